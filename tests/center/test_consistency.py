"""The member page says what the decision plan does: on a synthetic network, for every
member and several dates, the center's member-level verdict agrees with the per-item
decisions of `consentry.policy` (the plan that builds snapshots)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from consentry.center import explain
from consentry.policy.packs import load_pack

pytestmark = pytest.mark.slow
MEMBER_LEVEL = {"region_prohibited", "opted_out", "no_opt_in", "objected", "minor", "age_unknown",
                "account_closed", "unknown_jurisdiction", "no_policy_in_force"}


def _rows(path) -> list[dict]:
    return pq.read_table(path).to_pylist() if path.exists() else []


@pytest.mark.parametrize("pack_name", ["linkedin-2024", "strict"])
def test_member_view_agrees_with_decision_plan(tmp_path, pack_name):
    synth = pytest.importorskip("consentry.network.synth")
    from consentry.network.reader import stage_export
    from consentry.network.views import register
    from consentry.policy.decide import decide

    net = tmp_path / "network"
    synth.generate(net, members=50, seed=11, progress=False)
    staged = tmp_path / "staged"
    stage_export(net, staged, progress=False)
    members = {m["member_id"]: m for m in _rows(staged / "members.parquet")}
    events, signins = defaultdict(list), defaultdict(list)
    for e in _rows(staged / "consent_events.parquet"):
        events[e["member_id"]].append(e)
    for s in _rows(staged / "signins.parquet"):
        signins[s["member_id"]].append(s)
    pack = load_pack(pack_name)
    checked = 0
    verdicts: set[bool] = set()
    reasons_seen: set[str] = set()
    for as_of in (datetime(2024, 10, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)):
        for purpose in ("genai_training", "third_party_sharing"):
            con = duckdb.connect()
            register(con, staged)
            items = defaultdict(list)
            for item_id, member_id, allowed, reasons in decide(con, pack, purpose, as_of).select(
                    "item_id, member_id, allowed, reasons").fetchall():
                items[member_id].append((allowed, set(reasons or [])))
            con.close()
            for mid, decided in items.items():
                m = members.get(mid)
                if m is None or m.get("is_member") is False:
                    continue
                (view,) = explain.purpose_views(pack, m, events[mid], signins[mid], now=as_of, purposes=(purpose,))
                if any(a for a, _ in decided):
                    assert view.used, (mid, purpose, as_of, view.reasons)
                for reason in set(view.reasons) & MEMBER_LEVEL:
                    assert all(reason in r for _, r in decided), (mid, purpose, as_of, reason, decided)
                checked += 1
                verdicts.add(view.used)
                reasons_seen |= set(view.reasons)
    assert checked > 50 and verdicts == {True, False}
    assert len(reasons_seen & MEMBER_LEVEL) >= 2, reasons_seen
