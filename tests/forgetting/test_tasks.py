"""Which ledger entries become removal work: the latest choice per member and purpose wins."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from consentry.forgetting.run import tasks_from_events, tasks_from_requests
from consentry.network.schema import CONSENT_EVENTS


def _events(rows: list[tuple[str, str, str, str, int]]) -> pa.Table:
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return pa.Table.from_pylist(
        [{"event_id": e, "member_id": m, "purpose": p, "choice": c, "source": "settings",
          "notice_version": None, "at": t0 + dt.timedelta(days=d)} for e, m, p, c, d in rows],
        schema=CONSENT_EVENTS,
    )


def test_latest_choice_decides_and_only_new_pairs_are_checked() -> None:
    ev = _events([
        ("e1", "m1", "genai_training", "opt_out", 1),
        ("e2", "m1", "genai_training", "opt_in", 2),       # changed their mind: nothing to remove
        ("e3", "m2", "genai_training", "opt_in", 1),
        ("e4", "m2", "genai_training", "opt_out", 3),      # withdrew consent
        ("e5", "m3", "ml_personalization", "object", 1),
        ("e6", "m4", "ml_personalization", "object", 1),
        ("e7", "m4", "ml_personalization", "withdraw_objection", 2),
    ])
    got = {(t.member_id, t.purpose, t.reason, t.event_id) for t in tasks_from_events(ev)}
    assert got == {("m2", "genai_training", "opted_out", "e4"), ("m3", "ml_personalization", "objected", "e5")}
    only_new = tasks_from_events(ev, {("m3", "ml_personalization")})
    assert [(t.member_id, t.reason) for t in only_new] == [("m3", "objected")]


def test_requests_map_to_erasure_tasks() -> None:
    reqs = [
        {"request_id": "r1", "member_id": "m1", "kind": "erase_account", "item_ids": None},
        {"request_id": "r2", "member_id": "m2", "kind": "erase_items", "item_ids": ["i1", "i2"]},
        {"request_id": "r3", "member_id": "m3", "kind": "export", "item_ids": None},
    ]
    tasks = tasks_from_requests(reqs)
    assert [(t.request_id, t.reason, t.items) for t in tasks] == [("r1", "erased", None), ("r2", "erased", {"i1", "i2"})]
