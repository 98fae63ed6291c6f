"""The real 2024 case, rule by rule, on each side of every effective date."""

from __future__ import annotations

import pytest
from .policynet import GERMAN_DC_IP, GERMAN_IP, US_IP, Net

PACK = "linkedin-2024"
GENAI = "genai_training"


def one(net: Net, as_of: str, purpose: str = GENAI, pack: str = PACK) -> dict:
    (decision,) = net.decide(pack, purpose, as_of).values()
    return decision


@pytest.mark.parametrize(
    ("country", "as_of", "allowed", "version"),
    [
        # before the launch: no version in force, nothing allowed anywhere
        ("US", "2024-09-17T23:59:59Z", False, "none"),
        ("US", "2024-09-18T00:00:00Z", True, "2024-09-18"),
        # EEA and Switzerland: prohibited from launch until 2025-11-03
        ("DE", "2024-09-18", False, "2024-09-18"),
        ("FR", "2025-11-02T23:59:59Z", False, "2024-12-10"),
        ("DE", "2025-11-03", True, "2025-11-03"),
        ("NO", "2025-01-01", False, "2024-12-10"),
        ("CH", "2025-11-02", False, "2024-12-10"),
        ("CH", "2025-11-03", True, "2025-11-03"),
        # UK: opt-out on 18 and 19 September, prohibited from the 20th
        ("GB", "2024-09-19T23:59:59Z", True, "2024-09-18"),
        ("GB", "2024-09-20", False, "2024-09-20"),
        ("GB", "2025-11-03", True, "2025-11-03"),
        # Hong Kong from 2024-10-11
        ("HK", "2024-10-10", True, "2024-09-20"),
        ("HK", "2024-10-11", False, "2024-10-11"),
        ("HK", "2025-11-03", True, "2025-11-03"),
        # Canada from 2024-12-10
        ("CA", "2024-12-09", True, "2024-10-11"),
        ("CA", "2024-12-10", False, "2024-12-10"),
        ("CA", "2025-11-02", False, "2024-12-10"),
        ("CA", "2025-11-03", True, "2025-11-03"),
        # the rest of the world: opt-out throughout
        ("IN", "2024-12-10", True, "2024-12-10"),
        ("BR", "2026-01-01", True, "2025-11-03"),
    ],
)
def test_genai_by_residence_and_date(net: Net, country: str, as_of: str, allowed: bool, version: str) -> None:
    net.member(residence_country=country)
    net.item()
    d = one(net, as_of)
    assert d["allowed"] is allowed
    assert d["pack"] == f"{PACK}@{version}"
    assert d["jurisdiction"] == (country if version != "none" else country)
    if version == "none":
        assert d["reasons"] == ["no_policy_in_force"]
    elif allowed:
        assert d["reasons"] == []
        assert d["legal_basis"] == "dpv:LegitimateInterest"
    else:
        assert d["reasons"] == ["region_prohibited"]
        assert d["legal_basis"] == "none"


def test_eea_resident_region_group_and_basis_change_on_2025_11_03(net: Net) -> None:
    net.member(residence_country="IE")
    net.item()
    before, after = one(net, "2025-11-02"), one(net, "2025-11-03")
    assert (before["region_group"], before["legal_basis"], before["allowed"]) == ("eea_ch", "none", False)
    assert (after["region_group"], after["legal_basis"], after["allowed"]) == (
        "eea_ch",
        "dpv:LegitimateInterest",
        True,
    )


def test_us_resident_signing_in_from_germany_in_january_2025(net: Net) -> None:
    net.member(residence_country="US")
    net.item()
    net.signin("m1", US_IP, "2024-12-20")
    net.signin("m1", GERMAN_IP, "2025-01-10")
    d = one(net, "2025-01-20")
    assert d["allowed"] is False
    assert d["reasons"] == ["region_prohibited"]
    assert (d["jurisdiction"], d["region_group"]) == ("DE", "eea_ch")
    # more than 30 days later the German sign-in no longer counts
    later = one(net, "2025-02-10")
    assert later["allowed"] is True and later["jurisdiction"] == "US"
    # and a sign-in after T is not yet known at T
    assert one(net, "2025-01-09")["allowed"] is True


def test_signin_through_a_german_vpn_or_datacenter_counts(net: Net) -> None:
    net.member(residence_country="IN")
    net.item()
    net.signin("m1", GERMAN_DC_IP, "2025-03-01")
    d = one(net, "2025-03-05")
    assert d["reasons"] == ["region_prohibited"] and d["jurisdiction"] == "DE"


def test_unresolvable_signin_ip_counts_for_nothing(net: Net) -> None:
    net.member(residence_country="US")
    net.item()
    net.signin("m1", "10.1.2.3", "2025-03-01")
    net.signin("m1", "not-an-ip", "2025-03-01")
    assert one(net, "2025-03-05")["allowed"] is True


def test_seventeen_year_old_with_the_toggle_on_is_excluded_until_18(net: Net) -> None:
    net.member(birth_date=__import__("datetime").date(2007, 6, 15))
    net.item()
    net.event("m1", GENAI, "opt_in", "2024-10-01")  # the setting explicitly on
    d = one(net, "2025-01-15")
    assert d["allowed"] is False and d["reasons"] == ["minor"]
    assert one(net, "2025-06-14")["reasons"] == ["minor"]
    assert one(net, "2025-06-15")["allowed"] is True


def test_unknown_birth_date_is_not_excluded(net: Net) -> None:
    net.member(birth_date=None)
    net.item()
    assert one(net, "2025-01-15")["allowed"] is True


@pytest.mark.parametrize("kind", ["message", "inmail", "salary", "payment", "credential", "job_application"])
def test_excluded_kinds(net: Net, kind: str) -> None:
    net.member()
    net.item(kind=kind, visibility="private")
    d = one(net, "2025-01-15")
    assert d["allowed"] is False and d["reasons"] == ["kind_excluded"]


@pytest.mark.parametrize("kind", ["profile", "post", "article", "comment", "resume", "group_post"])
def test_other_kinds_and_any_visibility_are_used(net: Net, kind: str) -> None:
    net.member()
    net.item(kind=kind, visibility="connections", group_sensitive=True)
    assert one(net, "2025-01-15")["allowed"] is True


def test_opt_out_then_opt_in(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", GENAI, "opt_out", "2024-10-01")
    net.event("m1", GENAI, "opt_in", "2024-11-01")
    assert one(net, "2024-10-15")["reasons"] == ["opted_out"]
    assert one(net, "2024-11-02")["allowed"] is True


def test_opt_out_before_the_launch_still_counts(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", GENAI, "opt_out", "2024-01-01")
    assert one(net, "2024-09-18")["reasons"] == ["opted_out"]


def test_events_after_t_are_ignored(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", GENAI, "opt_out", "2025-02-01")
    net.request("m1", "erase_account", "2025-02-01")
    assert one(net, "2025-01-31T23:59:59Z")["allowed"] is True
    assert one(net, "2025-02-01")["reasons"] == ["opted_out", "erased"]


def test_same_instant_opt_in_and_opt_out_fails_closed(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", GENAI, "opt_in", "2025-01-01")
    net.event("m1", GENAI, "opt_out", "2025-01-01")
    assert one(net, "2025-01-02")["reasons"] == ["opted_out"]


def test_opt_out_for_another_purpose_does_not_apply(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", "affiliate_sharing", "opt_out", "2025-01-01")
    assert one(net, "2025-01-02")["allowed"] is True
    assert one(net, "2025-01-02", "affiliate_sharing")["reasons"] == ["opted_out"]


def test_objection_then_withdrawal_for_ml_personalization(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", "ml_personalization", "object", "2024-10-01", source="objection_form")
    net.event("m1", "ml_personalization", "withdraw_objection", "2024-12-01", source="objection_form")
    assert one(net, "2024-09-30", "ml_personalization")["allowed"] is True
    assert one(net, "2024-10-01", "ml_personalization")["reasons"] == ["objected"]
    assert one(net, "2024-12-01", "ml_personalization")["allowed"] is True
    # the objection form is for non-generative ML: genai_training is untouched
    assert one(net, "2024-10-15")["allowed"] is True


def test_ml_personalization_is_opt_out_in_the_eea_too(net: Net) -> None:
    net.member(residence_country="DE")
    net.item()
    assert one(net, "2025-01-01", "ml_personalization")["allowed"] is True


def test_gpc_is_an_opt_out_for_affiliate_sharing_only(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", "affiliate_sharing", "opt_out", "2025-01-01", source="gpc")
    net.event("m1", GENAI, "opt_out", "2025-01-01", source="gpc")
    assert one(net, "2025-01-02", "affiliate_sharing")["reasons"] == ["opted_out"]
    assert one(net, "2025-01-02")["allowed"] is True


def test_ml_safety_is_allowed_without_choice(net: Net) -> None:
    net.member(residence_country="DE")
    net.item()
    net.event("m1", "ml_safety", "opt_out", "2025-01-01")
    net.event("m1", "ml_safety", "object", "2025-01-01")
    assert one(net, "2025-01-02", "ml_safety")["allowed"] is True


def test_third_party_sharing_needs_consent(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", "third_party_sharing", "opt_in", "2025-01-10")
    assert one(net, "2025-01-09", "third_party_sharing")["reasons"] == ["no_opt_in"]
    d = one(net, "2025-01-10", "third_party_sharing")
    assert d["allowed"] is True and d["legal_basis"] == "dpv:Consent"


def test_all_reasons_are_listed_in_vocabulary_order(net: Net) -> None:
    import datetime as dt

    net.member(residence_country="DE", birth_date=dt.date(2010, 1, 1), closed_at=__import__("tests.policy.policynet", fromlist=["ts"]).ts("2025-01-01"))
    net.item(kind="message", deleted_at=__import__("tests.policy.policynet", fromlist=["ts"]).ts("2024-12-01"))
    net.event("m1", GENAI, "opt_out", "2024-10-01")
    d = one(net, "2025-01-15")
    assert d["reasons"] == ["region_prohibited", "opted_out", "minor", "kind_excluded", "deleted", "account_closed"]
