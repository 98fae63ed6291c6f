"""Properties over arbitrary exports: fail closed, and every item decided exactly once."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.vocab import REASONS

from .policynet import GERMAN_IP, US_IP, Net

UTC = dt.UTC
moments = st.datetimes(min_value=dt.datetime(2017, 1, 1), max_value=dt.datetime(2026, 6, 1), timezones=st.just(UTC))
maybe_moment = st.none() | moments
countries = st.sampled_from(["US", "DE", "GB", "HK", "CA", "IN", "CH", "de", "XX", "", None])
kinds = st.sampled_from(["post", "comment", "message", "profile", "tweet", None])
visibilities = st.sampled_from(["public", "connections", "private", "secret", None])
member_ids = st.sampled_from(["m1", "m2", "m3", "ghost", None])

members = st.lists(
    st.fixed_dictionaries({
        "member_id": st.sampled_from(["m1", "m2", "m3"]),
        "residence_country": countries,
        "birth_date": st.none() | st.dates(dt.date(1940, 1, 1), dt.date(2015, 1, 1)),
        "joined_at": maybe_moment,
        "closed_at": st.none() | moments,
        "is_member": st.none() | st.booleans(),
    }),
    max_size=4,
)
items = st.lists(
    st.fixed_dictionaries({
        "item_id": st.none() | st.sampled_from([f"i{k}" for k in range(8)]),
        "member_id": member_ids,
        "kind": kinds,
        "visibility": visibilities,
        "created_at": maybe_moment,
        "deleted_at": st.none() | moments,
        "group_sensitive": st.none() | st.booleans(),
    }),
    min_size=1,
    max_size=8,
)
events = st.lists(
    st.tuples(st.sampled_from(["m1", "m2", "m3"]),
              st.sampled_from(["genai_training", "ml_personalization", "affiliate_sharing"]),
              st.sampled_from(["opt_in", "opt_out", "object", "withdraw_objection"]),
              st.sampled_from(["settings", "gpc", "objection_form"]), moments),
    max_size=5,
)
signins = st.lists(st.tuples(st.sampled_from(["m1", "m2"]), st.sampled_from([GERMAN_IP, US_IP, "bogus"]), moments),
                   max_size=3)


def unknown_fields(item: dict, rows_by_member: dict[str, list[dict]], pack: str) -> list[str]:
    """The fields of this item (and its member) that are missing or not a known value."""
    bad = [k for k in ("item_id", "member_id", "kind", "visibility", "created_at") if item[k] is None]
    if item["kind"] == "tweet" or item["visibility"] == "secret":
        bad.append("value")
    rows = rows_by_member.get(item["member_id"], [])
    if len(rows) != 1:
        bad.append("member row")
    for m in rows:
        if m["residence_country"] in (None, "", "XX"):
            bad.append("residence")
        if m["is_member"] is None:
            bad.append("is_member")
        if pack == "strict" and m["birth_date"] is None:
            bad.append("birth_date")
    if pack == "strict" and item["group_sensitive"] is None:
        bad.append("group_sensitive")
    return bad


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=members, items=items, events=events, signins=signins,
    pack=st.sampled_from(["linkedin-2024", "strict"]),
    purpose=st.sampled_from(["genai_training", "ml_personalization", "ml_safety", "affiliate_sharing"]),
    as_of=moments,
)
def test_fail_closed_and_nothing_lost(members, items, events, signins, pack, purpose, as_of) -> None:
    net = Net()
    for m in members:
        net.member(**m)
    for it in items:
        net.rows["items"].append({**it, "text": "x", "mentions": None})
    for mid, p, choice, source, at in events:
        net.event(mid, p, choice, at.isoformat(), source=source)
    for mid, ip, at in signins:
        net.signin(mid, ip, at.isoformat())
    con = net.connect()
    from consentry.policy.decide import decide

    rows = decide(con, pack, purpose, as_of).to_arrow_table().to_pylist()

    # every input item appears exactly once
    assert Counter(r["item_id"] for r in rows) == Counter(i["item_id"] for i in items)
    assert len(rows) == len(items)
    by_member: dict[str, list[dict]] = {}
    for m in members:
        by_member.setdefault(m["member_id"], []).append(m)
    decided = Counter((r["item_id"], r["member_id"], r["allowed"]) for r in rows)
    for r in rows:
        # allowed exactly when no reason; reasons known, distinct and in vocabulary order
        assert r["allowed"] is (r["reasons"] == [])
        assert r["reasons"] == sorted(set(r["reasons"]), key=REASONS.index)
        assert r["pack"].startswith(pack + "@")
    for it in items:
        if unknown_fields(it, by_member, pack):
            # fail closed: an item with anything missing or unknown is never allowed
            assert decided[(it["item_id"], it["member_id"], True)] == 0, it
