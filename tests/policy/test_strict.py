"""The strict pack: consent first, public only, known adults, notice, retroactive."""

from __future__ import annotations

import datetime as dt

import pytest
from .policynet import GERMAN_IP, Net

from consentry.policy.packs import load_pack

PACK = "strict"
GENAI = "genai_training"


def one(net: Net, as_of: str, purpose: str = GENAI) -> dict:
    (decision,) = net.decide(PACK, purpose, as_of).values()
    return decision


def consenting(net: Net, **member: object) -> None:
    """A member who opted in and was notified long before the decision dates."""
    net.member(**member)
    net.notice("m1", "2019-01-01")
    net.event("m1", GENAI, "opt_in", "2019-03-01")


def test_pack_settings() -> None:
    (v,) = load_pack(PACK).versions
    assert v.effective_from == dt.date(2018, 5, 25)
    assert v.propagation.value == "retroactive"
    assert (v.min_age, v.exclude_unknown_age, v.exclude_sensitive_groups, v.notice_period_days) == (18, True, True, 30)


def test_before_2018_05_25_no_policy_in_force(net: Net) -> None:
    consenting(net)
    net.rows["consent_events"][0]["at"] = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
    net.rows["notices"][0]["delivered_at"] = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)
    net.item(created_at=dt.datetime(2017, 6, 1, tzinfo=dt.UTC))
    assert one(net, "2018-05-24T23:59:59Z")["reasons"] == ["no_policy_in_force"]
    d = one(net, "2018-05-25")
    assert d["allowed"] is True and d["pack"] == "strict@2018-05-25" and d["legal_basis"] == "dpv:Consent"


def test_genai_needs_an_opt_in(net: Net) -> None:
    net.member()
    net.notice("m1", "2019-01-01")
    net.item()
    assert one(net, "2025-01-01")["reasons"] == ["no_opt_in"]


@pytest.mark.parametrize("country", ["US", "DE", "IN", "GB"])
def test_opt_in_is_needed_everywhere_and_enough(net: Net, country: str) -> None:
    consenting(net, residence_country=country)
    net.item()
    d = one(net, "2025-01-01")
    assert d["allowed"] is True and d["jurisdiction"] == country and d["region_group"] == "rest_of_world"


@pytest.mark.parametrize("purpose", ["affiliate_sharing", "third_party_sharing"])
def test_sharing_needs_an_opt_in(net: Net, purpose: str) -> None:
    net.member()
    net.notice("m1", "2019-01-01")
    net.item()
    assert one(net, "2025-01-01", purpose)["reasons"] == ["no_opt_in"]
    net.event("m1", purpose, "opt_in", "2024-06-01")
    assert one(net, "2025-01-01", purpose)["allowed"] is True


def test_opt_in_then_opt_out(net: Net) -> None:
    consenting(net)
    net.item()
    net.event("m1", GENAI, "opt_out", "2024-06-01")
    assert one(net, "2024-05-31")["allowed"] is True
    assert one(net, "2024-06-01")["reasons"] == ["opted_out", "no_opt_in"]


def test_objection_for_personalization_until_withdrawn(net: Net) -> None:
    net.member()
    net.notice("m1", "2019-01-01")
    net.item()
    net.event("m1", "ml_personalization", "object", "2024-01-01", source="objection_form")
    net.event("m1", "ml_personalization", "withdraw_objection", "2024-03-01", source="objection_form")
    assert one(net, "2023-12-31", "ml_personalization")["allowed"] is True
    assert one(net, "2024-02-01", "ml_personalization")["reasons"] == ["objected"]
    assert one(net, "2024-03-01", "ml_personalization")["allowed"] is True


@pytest.mark.parametrize(("visibility", "allowed"), [("public", True), ("connections", False), ("private", False)])
def test_public_content_only(net: Net, visibility: str, allowed: bool) -> None:
    consenting(net)
    net.item(visibility=visibility)
    d = one(net, "2025-01-01")
    assert d["allowed"] is allowed and d["reasons"] == ([] if allowed else ["not_public"])


def test_private_message(net: Net) -> None:
    consenting(net)
    net.item(kind="message", visibility="private")
    assert one(net, "2025-01-01")["reasons"] == ["kind_excluded", "not_public"]


def test_unknown_birth_date_is_excluded(net: Net) -> None:
    consenting(net, birth_date=None)
    net.item()
    assert one(net, "2025-01-01")["reasons"] == ["age_unknown"]


def test_minor(net: Net) -> None:
    consenting(net, birth_date=dt.date(2007, 1, 2))
    net.item()
    assert one(net, "2025-01-01")["reasons"] == ["minor"]
    assert one(net, "2025-01-02")["allowed"] is True


@pytest.mark.parametrize(("flag", "allowed"), [(True, False), (None, False), (False, True)])
def test_sensitive_groups_excluded_and_unknown_counts_as_sensitive(net: Net, flag: bool | None, allowed: bool) -> None:
    consenting(net)
    net.item(kind="group_post", group_sensitive=flag)
    d = one(net, "2025-01-01")
    assert d["allowed"] is allowed and d["reasons"] == ([] if allowed else ["sensitive_group"])


def test_notice_thirty_days_before_first_use(net: Net) -> None:
    net.member()
    net.event("m1", GENAI, "opt_in", "2024-12-01")
    net.notice("m1", "2024-12-01")
    net.item()
    assert one(net, "2024-12-30")["reasons"] == ["not_notified"]
    assert one(net, "2024-12-31")["allowed"] is True


def test_no_notice_at_all(net: Net) -> None:
    net.member()
    net.event("m1", GENAI, "opt_in", "2024-12-01")
    net.item()
    assert one(net, "2025-06-01")["reasons"] == ["not_notified"]


def test_signins_from_abroad_do_not_change_a_uniform_rule(net: Net) -> None:
    consenting(net)
    net.item()
    net.signin("m1", GERMAN_IP, "2024-12-20")
    d = one(net, "2025-01-01")
    assert d["allowed"] is True and d["jurisdiction"] == "US"
