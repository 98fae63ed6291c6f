"""`consentry forget`: turn ledger requests and events into physical removal, then receipts.

Erasure requests apply to every live snapshot of every purpose (erasure is a right,
not a policy choice). Opt-outs and objections apply to the live snapshots of their
purpose whose pack version is `retroactive`; under `forward_only` those snapshots
stay byte-identical and the member's receipt says so (new builds exclude them,
because the builder reads the same ledger). All removals of one run are grouped
per snapshot, so each affected shard file is rewritten once.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
import uuid
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.forgetting import erase
from consentry.forgetting.receipts import FORWARD_ONLY_NOTE, write_receipts
from consentry.snapshots import layout
from consentry.snapshots.catalog import Snapshot, list_snapshots

ERASE_KINDS = {"erase_items", "erase_account", "erase_ai_data"}
WITHDRAWING = {"opt_out": "opted_out", "object": "objected"}
STATE_FILE = ".forget-state.json"


@dataclass
class Task:
    """One reason to remove data: an erasure request or a (retroactive) withdrawal."""

    member_id: str
    reason: str
    request_id: str | None = None
    event_id: str | None = None
    items: set[str] | None = None  # None: all the member's items
    purpose: str | None = None  # None: every purpose


@dataclass
class ForwardOnly:
    member_id: str
    purpose: str
    version: str
    pack: str
    event_id: str | None


@dataclass
class ForgetReport:
    run_id: str
    at: dt.datetime
    tasks: list[Task] = field(default_factory=list)
    removals: list[erase.Removal] = field(default_factory=list)
    forward_only: list[ForwardOnly] = field(default_factory=list)
    models: list[Any] = field(default_factory=list)
    receipts: list[Path] = field(default_factory=list)
    requests_processed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def items_removed(self) -> int:
        return sum(r.items.num_rows for r in self.removals)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "at": self.at.isoformat(),
            "tasks": len(self.tasks),
            "requests_processed": len(self.requests_processed),
            "snapshots_changed": [f"{r.purpose}/{r.version}" for r in self.removals],
            "items_removed": self.items_removed,
            "shards_rewritten": sum(len(r.shards) for r in self.removals),
            "left_as_is_forward_only": len(self.forward_only),
            "models_changed": len(self.models),
            "receipts": len(self.receipts),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def text(self) -> str:
        s = self.summary()
        lines = [f"forget run {s['run_id']}: {s['tasks']} task(s), {s['items_removed']} item(s) removed "
                 f"from {len(s['snapshots_changed'])} snapshot(s), {s['shards_rewritten']} shard file(s) rewritten"]
        for r in self.removals:
            lines.append(f"  {r.purpose}/{r.version}: -{r.items.num_rows} items, shards {r.shards}, "
                         f"content {r.content_hash_before[:12]} -> {r.content_hash_after[:12]}")
        kept: dict[tuple[str, str, str], list[str]] = {}
        for f in self.forward_only:
            kept.setdefault((f.purpose, f.version, f.pack), []).append(f.member_id)
        for (purpose, version, pack), members in kept.items():
            shown = ", ".join(members[:5]) + (f" and {len(members) - 5} more" if len(members) > 5 else "")
            lines.append(f"  {purpose}/{version} ({pack}, forward_only): left as is for {len(members)} "
                         f"withdrawn member(s) ({shown}); new builds exclude them")
        if self.models:
            lines.append(f"  models changed: {len(self.models)}")
        lines.append(f"  receipts written: {len(self.receipts)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- tasks


def tasks_from_requests(requests: list[Any]) -> list[Task]:
    """Erasure requests (records or dicts) → tasks; other kinds are not forgetting's."""
    out = []
    for r in requests:
        get = r.get if isinstance(r, dict) else lambda k, _r=r: getattr(_r, k, None)
        kind = get("kind")
        if kind not in ERASE_KINDS:
            continue
        items = set(get("item_ids") or []) if kind == "erase_items" else None
        out.append(Task(get("member_id"), "erased", request_id=get("request_id"), items=items))
    return out


def tasks_from_events(events: pa.Table, members_purposes: set[tuple[str, str]] | None = None) -> list[Task]:
    """Members whose latest choice for a purpose is opt_out or object → removal tasks.

    `members_purposes` limits the check to pairs with new events (None: all pairs).
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(events.to_pylist(), key=lambda e: e["at"]):  # stable: write order breaks ties
        latest[(e["member_id"], e["purpose"])] = e
    out = []
    for key, e in sorted(latest.items()):
        if members_purposes is not None and key not in members_purposes:
            continue
        reason = WITHDRAWING.get(e["choice"])
        if reason:
            out.append(Task(e["member_id"], reason, event_id=e["event_id"], purpose=e["purpose"]))
    return out


def _retroactive(snap: Snapshot) -> bool:
    return (snap.manifest.propagation or "").endswith("retroactive")


def _opt_out_counts(snap: Snapshot, reason: str, event: dict[str, Any] | None = None) -> bool:
    """Whether the pack lets this choice remove data for this purpose at all.

    An opt-out does not count where every group's rule is `allowed` (e.g. safety);
    an objection does not count where the pack does not honour objections.
    """
    pv = _pack_version(snap.manifest.pack, snap.manifest.as_of)
    if pv is False:  # an unknown pack: fail closed, remove
        return True
    pol = pv.purposes.get(snap.purpose) if pv else None
    if pol is None:
        return True
    if reason == "objected":
        return bool(pol.honour_objection)
    return any(str(getattr(r.rule, "value", r.rule)) != "allowed" for r in pol.rules.values())


@functools.lru_cache(maxsize=64)
def _pack_version(pack: str, as_of: dt.datetime) -> Any:
    try:
        from consentry.policy.packs import load_pack

        return load_pack(pack).version_at(as_of)
    except Exception:  # noqa: BLE001 - any load failure means "unknown pack"
        return False


def _members_in(snap: Snapshot, members: set[str]) -> set[str]:
    if not members:
        return set()
    t = pq.read_table(snap.path / layout.LINEAGE, columns=["member_id"],
                      filters=[("member_id", "in", sorted(members))])
    return set(pc.unique(t.column("member_id")).to_pylist())


def apply_tasks(tasks: list[Task], root: Path, run_id: str, at: dt.datetime) -> tuple[list[erase.Removal], list[ForwardOnly]]:
    """Group tasks per live snapshot and remove; list forward_only snapshots left as is."""
    removals: list[erase.Removal] = []
    kept: list[ForwardOnly] = []
    for snap in list_snapshots(root):
        targets: list[erase.Target] = []
        withdrawals: dict[str, Task] = {}
        for t in tasks:
            if t.purpose is not None and t.purpose != snap.purpose:
                continue
            if t.reason == "erased":
                targets.append(erase.Target("erased", t.request_id,
                                            members=set() if t.items is not None else {t.member_id},
                                            items=t.items or set()))
            elif _opt_out_counts(snap, t.reason):
                withdrawals[t.member_id] = t
        if withdrawals:
            if _retroactive(snap):
                for t in withdrawals.values():
                    targets.append(erase.Target(t.reason, t.event_id, members={t.member_id}))
            else:
                for m in sorted(_members_in(snap, set(withdrawals))):
                    kept.append(ForwardOnly(m, snap.purpose, snap.version, snap.manifest.pack_ref,
                                            withdrawals[m].event_id))
        if targets:
            r = erase.remove(snap, targets, run_id, at)
            if r is not None:
                removals.append(r)
    return removals, kept


# --------------------------------------------------------------------------- run


def _state(receipts_dir: Path) -> dict[str, Any]:
    p = receipts_dir / STATE_FILE
    return json.loads(p.read_text()) if p.exists() else {}


def _plain(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if is_dataclass(obj):
        return json.loads(json.dumps(asdict(obj), default=str))
    return obj if isinstance(obj, (dict, list, str, int, float)) else str(obj)


def _retrain(removals: list[erase.Removal], settings: Any) -> list[Any]:
    """Retrain model shards whose data changed (`forgetting.models`, when it exists)."""
    if not removals:
        return []
    try:
        from consentry.forgetting.models import retrain_affected
    except ImportError:
        return []
    return list(retrain_affected(removals, settings) or [])


def _model_members(mc: Any) -> set[str] | None:
    """Which members a model change concerns (ModelChange has one `member_id`)."""
    get = mc.get if isinstance(mc, dict) else (lambda k, _m=mc: getattr(_m, k, None))
    one = get("member_id")
    if one is not None:
        return {one}
    many = get("members")
    return set(many) if many is not None else None


def forget(
    request_id: str | None = None,
    pending: bool = False,
    *,
    settings: Any = None,
    ledger: Any = None,
    root: str | Path | None = None,
    receipts_dir: str | Path | None = None,
    now: dt.datetime | None = None,
    retrain: bool = True,
) -> ForgetReport:
    """Process one request (`request_id`) or everything pending in the ledger (`pending`)."""
    if not request_id and not pending:
        raise ValueError("forget needs a request id or pending=True")
    if settings is None:
        from consentry.settings import get_settings

        settings = get_settings()
    if ledger is None:
        from consentry.ledger.store import Ledger

        ledger = Ledger(settings.ledger).create()  # idempotent: upgrades an existing ledger
    root = Path(root or settings.snapshots)
    receipts_dir = Path(receipts_dir or settings.home / "receipts")
    receipts_dir.mkdir(parents=True, exist_ok=True)
    at = now or dt.datetime.now(dt.UTC)
    run_id = f"{at.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    report = ForgetReport(run_id, at)

    requests: list[Any] = []
    tasks: list[Task] = []
    state = _state(receipts_dir)
    position = None
    if request_id:
        rec = ledger.request(request_id)
        if rec is None:
            raise KeyError(f"no request {request_id!r} in the ledger")
        requests = [rec]
    if pending:
        requests += [r for r in ledger.pending_requests() if r.request_id != request_id]
        position = ledger.position()
        seen = int(state.get("ledger_position", 0))
        events = ledger.events_table(upto_seq=position)
        if seen:
            old = set(ledger.events_table(upto_seq=seen).column("event_id").to_pylist())
            new = events.filter(pc.invert(pc.is_in(events.column("event_id"), value_set=pa.array(sorted(old), pa.string()))))
        else:
            new = events
        pairs = set(zip(new.column("member_id").to_pylist(), new.column("purpose").to_pylist(), strict=True))
        tasks += tasks_from_events(events, pairs)
    tasks = tasks_from_requests(requests) + tasks
    report.tasks = tasks

    clock = time.perf_counter()
    report.removals, report.forward_only = apply_tasks(tasks, root, run_id, at)
    report.timings["snapshots_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if retrain:
        report.models = _retrain(report.removals, settings)
    report.timings["retrain_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    report.receipts = _write_receipts(report, receipts_dir)
    report.timings["receipts_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    erased = [r.member_id for r in requests if r.kind == "erase_account"]
    if erased:  # the ledger's own copy: destroy the members' keys before any request is marked done
        ledger.shred_subjects(erased)
    for r in requests:
        if r.kind not in ERASE_KINDS:
            continue
        held = [f"{x.purpose}/{x.version}" for x in report.removals
                if r.request_id in set(x.items.column("request_id").to_pylist())]
        ledger.mark_processed(r.request_id, {"run_id": run_id, "snapshots": held},
                              client_request_id=f"forget:{r.request_id}")
        report.requests_processed.append(r.request_id)
    if position is not None:
        layout.write_atomic(receipts_dir / STATE_FILE, json.dumps({"ledger_position": position}).encode())
    report.timings["ledger_s"] = time.perf_counter() - clock
    return report


def _write_receipts(report: ForgetReport, receipts_dir: Path) -> list[Path]:
    per: dict[str, dict[str, Any]] = {}

    def entry(member: str) -> dict[str, Any]:
        return per.setdefault(member, {
            "member_id": member, "run_id": report.run_id, "at": report.at.isoformat(),
            "requests": [], "events": [], "snapshots": [], "models": [], "left_as_is": [],
        })

    for t in report.tasks:
        e = entry(t.member_id)
        if t.request_id:
            e["requests"].append({"request_id": t.request_id, "reason": t.reason,
                                  "items": sorted(t.items) if t.items is not None else "all"})
        if t.event_id:
            e["events"].append({"event_id": t.event_id, "reason": t.reason, "purpose": t.purpose})
    for r in report.removals:
        by_member: dict[str, list[dict[str, Any]]] = {}
        for row in r.items.select(["item_id", "member_id", "shard", "content_hash", "reason"]).to_pylist():
            by_member.setdefault(row["member_id"], []).append(row)
        for member, rows in by_member.items():
            entry(member)["snapshots"].append({
                "snapshot": f"{r.purpose}/{r.version}",
                "items_removed": len(rows),
                "item_ids": sorted(x["item_id"] for x in rows),
                "content_hashes": sorted(x["content_hash"] for x in rows),
                "shards": sorted({x["shard"] for x in rows}),
                "reasons": sorted({x["reason"] for x in rows}),
            })
    for f in report.forward_only:
        entry(f.member_id)["left_as_is"].append({
            "snapshot": f"{f.purpose}/{f.version}", "pack": f.pack, "note": FORWARD_ONLY_NOTE})
    for mc in report.models:
        members = _model_members(mc)
        for member, e in per.items():
            if members is None or member in members:
                if e["snapshots"]:
                    e["models"].append(_plain(mc))
    bodies = {}
    for member, body in sorted(per.items()):
        if not (body["requests"] or body["snapshots"] or body["left_as_is"]):
            continue  # a withdrawal that touched nothing live: nothing to tell
        if body["left_as_is"] and not body["snapshots"]:
            body["note"] = FORWARD_ONLY_NOTE
        elif not body["snapshots"]:
            body["note"] = "no live snapshot held your data; new builds exclude you"
        else:
            body["note"] = "your data was removed from the snapshots listed; new builds exclude you"
        bodies[member] = body
    return write_receipts(receipts_dir, report.run_id, bodies) if bodies else []
