"""Item- and member-level reasons shared by every pack: erasure, lifecycle, fail closed."""

from __future__ import annotations

import pytest
from .policynet import GERMAN_IP, Net, ts

PACK = "linkedin-2024"
T = "2025-01-15"


def reasons(net: Net, as_of: str = T, pack: str = PACK) -> dict[str, list[str]]:
    return {k: d["reasons"] for k, d in net.decide(pack, "genai_training", as_of).items()}


def test_erase_items_only_the_named_items(net: Net) -> None:
    net.member()
    a, b = net.item(), net.item()
    net.request("m1", "erase_items", "2025-01-01", item_ids=[a])
    assert reasons(net) == {a: ["erased"], b: []}
    assert reasons(net, "2024-12-31") == {a: [], b: []}


@pytest.mark.parametrize("kind", ["erase_account", "erase_ai_data"])
def test_erase_all_of_a_member(net: Net, kind: str) -> None:
    net.member()
    net.member("m2")
    a, b, c = net.item(), net.item(), net.item("m2")
    net.request("m1", kind, "2025-01-01")
    assert reasons(net) == {a: ["erased"], b: ["erased"], c: []}


def test_erase_items_without_ids_fails_closed(net: Net) -> None:
    net.member()
    a = net.item()
    net.request("m1", "erase_items", "2025-01-01", item_ids=None)
    assert reasons(net) == {a: ["erased"]}


def test_export_request_changes_nothing(net: Net) -> None:
    net.member()
    a = net.item()
    net.request("m1", "export", "2025-01-01")
    assert reasons(net) == {a: []}


def test_deleted_closed_and_not_yet_created(net: Net) -> None:
    net.member()
    net.member("m2", closed_at=ts("2025-01-10"))
    net.member("m3", joined_at=ts("2025-02-01"))
    deleted = net.item(deleted_at=ts("2025-01-01"))
    later_deleted = net.item(deleted_at=ts("2025-02-01"))
    future = net.item(created_at=ts("2025-01-16"))
    closed = net.item("m2")
    not_joined = net.item("m3", created_at=ts("2025-02-02"))
    assert reasons(net) == {
        deleted: ["deleted"],
        later_deleted: [],
        future: ["not_yet_created"],
        closed: ["account_closed"],
        not_joined: ["not_yet_created"],
    }


def test_non_member(net: Net) -> None:
    net.member("x1", is_member=False)
    a = net.item("x1")
    assert reasons(net) == {a: ["non_member"]}


@pytest.mark.parametrize("residence", [None, "XX", "Germany", ""])
def test_unknown_country(net: Net, residence: str | None) -> None:
    net.member(residence_country=residence)
    a = net.item()
    d = net.decide(PACK, "genai_training", T)[a]
    assert d["allowed"] is False and d["reasons"] == ["unknown_jurisdiction"] and d["jurisdiction"] is None


def test_unknown_residence_with_a_german_signin_lists_both(net: Net) -> None:
    net.member(residence_country=None)
    a = net.item()
    net.signin("m1", GERMAN_IP, "2025-01-10")
    d = net.decide(PACK, "genai_training", T)[a]
    assert d["reasons"] == ["region_prohibited", "unknown_jurisdiction"] and d["jurisdiction"] == "DE"


def test_lowercase_country_is_read(net: Net) -> None:
    net.member(residence_country="de")
    a = net.item()
    assert net.decide(PACK, "genai_training", T)[a]["jurisdiction"] == "DE"


def test_item_whose_member_is_missing_is_malformed(net: Net) -> None:
    a = net.item("ghost")
    d = net.decide(PACK, "genai_training", T)[a]
    assert d["allowed"] is False and d["reasons"] == ["unknown_jurisdiction", "malformed"]


def test_duplicate_member_rows_are_malformed_and_do_not_duplicate_items(net: Net) -> None:
    net.member()
    net.member(residence_country="DE")
    a = net.item()
    assert "malformed" in reasons(net)[a]


@pytest.mark.parametrize(
    "fields",
    [{"kind": "tweet"}, {"kind": None}, {"visibility": "secret"}, {"visibility": None}, {"created_at": None}],
)
def test_malformed_items(net: Net, fields: dict) -> None:
    net.member()
    a = net.item(**fields)
    assert "malformed" in reasons(net)[a]


def test_member_with_unknown_is_member_flag_is_malformed(net: Net) -> None:
    net.member(is_member=None)
    a = net.item()
    assert reasons(net)[a] == ["malformed"]


def test_purpose_absent_from_the_version_is_no_policy(net: Net, tmp_path) -> None:
    from consentry.policy.packs import load_pack

    f = tmp_path / "only-genai.yaml"
    f.write_text(
        "name: only-genai\nversions:\n  - version: v1\n    effective_from: 2020-01-01\n    groups: {eu: [DE]}\n"
        "    purposes:\n      genai_training:\n        rules:\n"
        "          eu: {rule: opt_in, legal_basis: 'dpv:Consent'}\n"
        "          rest_of_world: {rule: opt_out, legal_basis: 'dpv:LegitimateInterest'}\n"
    )
    pack = load_pack(f)
    net.member()
    a = net.item()
    net.signin("m1", GERMAN_IP, "2025-01-10")
    assert net.decide(pack, "ml_safety", T)[a]["reasons"] == ["no_policy_in_force"]
    d = net.decide(pack, "genai_training", T)[a]
    # the German sign-in makes the stricter opt_in rule apply to a US resident
    assert (d["reasons"], d["jurisdiction"], d["legal_basis"]) == (["no_opt_in"], "DE", "dpv:Consent")
