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

from consentry.forgetting import copies, erase
from consentry.forgetting.receipts import FORWARD_ONLY_NOTE, write_receipts
from consentry.forgetting.steps import reached
from consentry.snapshots import layout
from consentry.snapshots.catalog import Snapshot, list_snapshots

ERASE_KINDS = {"erase_items", "erase_account", "erase_ai_data"}
WITHDRAWING = {"opt_out": "opted_out", "object": "objected"}
STATE_FILE = ".forget-state.json"


class ForgetError(RuntimeError):
    """A forget run that cannot go on safely (one line, names the file)."""


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
    copies: list[str] = field(default_factory=list)
    resumed: list[ForgetReport] = field(default_factory=list)
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
            "copies_scrubbed": len(self.copies),
            "resumed_runs": [r.run_id for r in self.resumed],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def text(self) -> str:
        if self.run_id == "none":
            return "no unfinished forget run: nothing to resume"
        s = self.summary()
        lines = [(f"finished interrupted forget run {r.run_id}: {r.items_removed} item(s) removed, "
                  f"{len(r.receipts)} receipt(s)") for r in self.resumed]
        lines.append(f"forget run {s['run_id']}: {s['tasks']} task(s), {s['items_removed']} item(s) removed "
                     f"from {len(s['snapshots_changed'])} snapshot(s), {s['shards_rewritten']} shard file(s) rewritten")
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
        if self.copies:
            lines.append(f"  staged exports and caches scrubbed: {len(self.copies)} file(s)")
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


def _targets(snap: Snapshot, tasks: list[Task]) -> tuple[list[erase.Target], list[ForwardOnly]]:
    """What `tasks` remove from one snapshot, and the withdrawals it keeps (forward_only)."""
    targets: list[erase.Target] = []
    kept: list[ForwardOnly] = []
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
    return targets, kept


def plan(tasks: list[Task], root: Path) -> list[str]:
    """The snapshots (`purpose/version`) that hold data `tasks` remove: what the run journal lists."""
    out = []
    for snap in list_snapshots(root):
        targets, _ = _targets(snap, tasks)
        if targets and erase.hits(snap, targets):
            out.append(snap.ref)
    return out


def apply_tasks(tasks: list[Task], root: Path, run_id: str, at: dt.datetime) -> tuple[list[erase.Removal], list[ForwardOnly]]:
    """Group tasks per live snapshot and remove; list forward_only snapshots left as is.

    Idempotent: a rerun of the same run finds nothing left to remove, and the
    removals it returns are read back from the tombstones the run wrote.
    """
    removals: list[erase.Removal] = []
    kept: list[ForwardOnly] = []
    for snap in list_snapshots(root):
        targets, left = _targets(snap, tasks)
        kept += left
        if targets:
            erase.remove(snap, targets, run_id, at)
        r = erase.removal_of_run(snap, run_id)
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


def _model_changes(saved: list[dict[str, Any]]) -> list[Any]:
    """Model changes as the journal kept them, back as `forgetting.models.ModelChange` where they fit."""
    if not saved:
        return []
    try:
        from consentry.forgetting.models import ModelChange

        return [ModelChange(**d) for d in saved]
    except (ImportError, TypeError):
        return list(saved)


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
    resume: bool = False,
    settings: Any = None,
    ledger: Any = None,
    root: str | Path | None = None,
    receipts_dir: str | Path | None = None,
    now: dt.datetime | None = None,
    retrain: bool = True,
) -> ForgetReport:
    """Process one request (`request_id`), everything pending in the ledger (`pending`),
    or only finish runs a crash interrupted (`resume`).

    Every call first finishes the unfinished runs (their journals under
    `<snapshots>/.forget/`), with their own run id, tasks and time, so a rerun after
    a crash at any point completes the work and repeats the first attempt's receipts
    instead of contradicting them. One run at a time (a lock beside the journals).
    """
    if not request_id and not pending and not resume:
        raise ValueError("forget needs a request id, pending=True or resume=True")
    if settings is None:
        from consentry.settings import get_settings

        settings = get_settings()
    if ledger is None:
        from consentry.ledger.store import Ledger

        ledger = Ledger(settings.ledger).create()  # idempotent: upgrades an existing ledger
    from consentry import openlineage_events as ol

    with ol.run("forget", [ol.DatasetRef.ledger(ledger.url)], settings) as run:
        report = _forget(request_id, pending, resume, settings, ledger, root, receipts_dir, now, retrain)
        for r in [*report.resumed, report]:
            for removal in r.removals:
                run.output(ol.DatasetRef.parquet(removal.path / layout.DATA, version=removal.content_hash_after))
        return report


def _forget(request_id: str | None, pending: bool, resume: bool, settings: Any, ledger: Any,
            root: str | Path | None, receipts_dir: str | Path | None, now: dt.datetime | None,
            retrain: bool) -> ForgetReport:
    ctx = _Context(settings, ledger, Path(root or settings.snapshots),
                   Path(receipts_dir or settings.home / "receipts"))
    ctx.receipts_dir.mkdir(parents=True, exist_ok=True)
    with layout.purpose_lock(ctx.root / layout.FORGET_DIR):
        layout.clean_stale(ctx.root / layout.FORGET_DIR)
        journals = layout.forget_runs(ctx.root)
        for j in journals:
            if j.get("phase") == "unreadable":  # never guess what a damaged journal meant to remove
                raise ForgetError(f"{j['path']}: unreadable forget journal; restore it or remove it by hand "
                                  "after checking the snapshots it names")
        resumed = [_finish(j, ctx) for j in journals]
        if not (request_id or pending):
            report = resumed.pop() if resumed else ForgetReport("none", now or dt.datetime.now(dt.UTC))
            report.resumed = resumed
            return report
        journal = _start(request_id, pending, ctx, now or dt.datetime.now(dt.UTC), retrain)
        report = _finish(journal, ctx)
    report.resumed = resumed
    return report


@dataclass
class _Context:
    settings: Any
    ledger: Any
    root: Path
    receipts_dir: Path


def _journal_file(root: Path, run_id: str) -> Path:
    return root / layout.FORGET_DIR / f"{run_id}.json"


def _save(journal: dict[str, Any], root: Path) -> None:
    layout.write_atomic(_journal_file(root, journal["run_id"]), json.dumps(journal, default=str).encode())


def _start(request_id: str | None, pending: bool, ctx: _Context, at: dt.datetime, retrain: bool) -> dict[str, Any]:
    """Decide the run's work from the ledger and write it down before touching anything."""
    ledger = ctx.ledger
    run_id = f"{at.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    requests: list[Any] = []
    tasks: list[Task] = []
    position = None
    if request_id:
        rec = ledger.request(request_id)
        if rec is None:
            raise KeyError(f"no request {request_id!r} in the ledger")
        requests = [rec]
    if pending:
        requests += [r for r in ledger.pending_requests() if r.request_id != request_id]
        position = ledger.position()
        seen = int(_state(ctx.receipts_dir).get("ledger_position", 0))
        events = ledger.events_table(upto_seq=position)
        if seen:
            old = set(ledger.events_table(upto_seq=seen).column("event_id").to_pylist())
            new = events.filter(pc.invert(pc.is_in(events.column("event_id"), value_set=pa.array(sorted(old), pa.string()))))
        else:
            new = events
        pairs = set(zip(new.column("member_id").to_pylist(), new.column("purpose").to_pylist(), strict=True))
        tasks += tasks_from_events(events, pairs)
    requests = [{"request_id": r.request_id, "member_id": r.member_id, "kind": r.kind,
                 "item_ids": list(r.item_ids) if r.item_ids is not None else None} for r in requests]
    if pending:
        requests += _reappeared(ledger, {r["request_id"] for r in requests}, ctx.root)
    tasks = tasks_from_requests(requests) + tasks
    journal = {
        "run_id": run_id, "at": at.isoformat(), "phase": "snapshots", "retrain": retrain,
        "position": position, "requests": requests,
        "tasks": [{**asdict(t), "items": sorted(t.items) if t.items is not None else None} for t in tasks],
        "snapshots": plan(tasks, ctx.root),
    }
    _save(journal, ctx.root)
    reached("run_journal")
    return journal


def _reappeared(ledger: Any, known: set[str], root: Path) -> list[dict[str, Any]]:
    """Processed erasure requests whose data a live snapshot holds again (say, one built
    without the ledger after the erasure): `--pending` removes it again."""
    done = [r for r in ledger.requests_table().to_pylist()
            if r["kind"] in ERASE_KINDS and r["request_id"] not in known]
    if not done:
        return []
    tasks = tasks_from_requests(done)
    hit: set[str] = set()
    for snap in list_snapshots(root):
        targets, _ = _targets(snap, tasks)
        if targets:
            found = erase.affected(snap, targets)
            hit |= set(found.column("request_id").to_pylist())
    return [{**r, "item_ids": list(r["item_ids"]) if r["item_ids"] is not None else None}
            for r in done if r["request_id"] in hit]


def _finish(journal: dict[str, Any], ctx: _Context) -> ForgetReport:
    """Carry one run's journal to the end; every step is idempotent, so a crash anywhere is redone."""
    run_id = journal["run_id"]
    at = dt.datetime.fromisoformat(journal["at"])
    report = ForgetReport(run_id, at)
    report.tasks = [Task(**{**t, "items": set(t["items"]) if t.get("items") is not None else None})
                    for t in journal.get("tasks", [])]
    layout.clean_stale(ctx.receipts_dir)  # half-written receipt directories of a killed run

    clock = time.perf_counter()
    _recover_all(ctx.root)
    report.removals, report.forward_only = apply_tasks(report.tasks, ctx.root, run_id, at)
    if journal.get("phase") == "snapshots":
        journal["phase"] = "copies"
        _save(journal, ctx.root)
    reached("snapshots_done")
    report.timings["snapshots_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    erased = copies.erased_in_ledger(ctx.ledger)
    report.copies = [str(p) for p in copies.scrub_staged(Path(ctx.settings.home) / "staged", erased)]
    reached("staged_rewritten")
    report.copies += [str(p) for p in copies.delete_exports(Path(ctx.settings.home), erased)]
    reached("exports_deleted")
    report.copies += [str(p) for p in copies.scrub_caches(Path(ctx.settings.models), _erased_hashes(ctx.root))]
    reached("caches_scrubbed")
    from consentry.forgetting.verify import scrub_logs

    network = Path(ctx.settings.network)
    report.copies += [str(p) for p in scrub_logs(ctx.root, network if network.is_dir() else None, ledger=ctx.ledger,
                                                 home=ctx.settings.home, models_dir=ctx.settings.models)]
    reached("logs_scrubbed")
    report.timings["copies_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if "models" in journal:  # retrained before the crash: what it did is in the journal
        report.models = _model_changes(journal["models"])
    else:
        report.models = _retrain(report.removals, ctx.settings) if journal.get("retrain") else []
        journal["models"] = [_plain(m) for m in report.models]
        journal["phase"] = "receipts"
        _save(journal, ctx.root)
    reached("models_retrained")
    report.timings["retrain_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    findings = _findings(ctx.root)
    report.receipts = _write_receipts(report, ctx.receipts_dir, findings)
    reached("receipts_written")
    report.timings["receipts_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    erased = [r["member_id"] for r in journal.get("requests", []) if r["kind"] == "erase_account"]
    if erased:  # the ledger's own copy: destroy the members' keys before any request is marked done
        ctx.ledger.shred_subjects(erased)
        reached("subjects_shredded")
    for r in journal.get("requests", []):
        if r["kind"] not in ERASE_KINDS:
            continue
        held = sorted({f["snapshot"] for f in findings.get(r["request_id"], [])})
        ctx.ledger.mark_processed(r["request_id"], {"run_id": run_id, "snapshots": held},
                                  client_request_id=f"forget:{r['request_id']}")
        report.requests_processed.append(r["request_id"])
        reached("request_marked")
    if journal.get("position") is not None:
        layout.write_atomic(ctx.receipts_dir / STATE_FILE,
                            json.dumps({"ledger_position": journal["position"]}).encode())
        reached("state_written")
    _journal_file(ctx.root, run_id).unlink(missing_ok=True)
    report.timings["ledger_s"] = time.perf_counter() - clock
    return report


def _recover_all(root: Path) -> None:
    """Finish every snapshot a killed run left torn, and sweep killed builds' leftovers."""
    if not root.is_dir():
        return
    for purpose_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        with layout.purpose_lock(purpose_dir):
            layout.clean_stale(purpose_dir)
            for v in layout.versions(purpose_dir):
                erase.recover(purpose_dir / v)


def _erased_hashes(root: Path) -> set[str]:
    """Content hashes of erased items no live snapshot still holds (caches may keep the others)."""
    snaps = list_snapshots(root)
    erased: set[str] = set()
    for snap in snaps:
        t = erase.tombstones(snap.path)
        erased |= set(t.filter(pc.equal(t.column("reason"), "erased")).column("content_hash").to_pylist())
    return erased - erase.live_hashes(snaps, erased)


def _findings(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Per request or event id: what any run removed for it, from which snapshot (the tombstones).

    Receipts are built from these records, so a rerun (or a second run for the same
    request) says what was found the first time, never "no live snapshot held your data".
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for snap in list_snapshots(root):
        t = erase.tombstones(snap.path)
        for row in t.select(["item_id", "member_id", "shard", "content_hash", "reason", "request_id"]).to_pylist():
            if row["request_id"]:
                out.setdefault(row["request_id"], []).append({**row, "snapshot": snap.ref})
    return out


def _write_receipts(report: ForgetReport, receipts_dir: Path, findings: dict[str, list[dict[str, Any]]]) -> list[Path]:
    per: dict[str, dict[str, Any]] = {}

    def entry(member: str) -> dict[str, Any]:
        return per.setdefault(member, {
            "member_id": member, "run_id": report.run_id, "at": report.at.isoformat(),
            "requests": [], "events": [], "snapshots": [], "models": [], "left_as_is": [],
        })

    rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (member, snapshot) -> item -> row
    for t in report.tasks:
        e = entry(t.member_id)
        if t.request_id:
            e["requests"].append({"request_id": t.request_id, "reason": t.reason,
                                  "items": sorted(t.items) if t.items is not None else "all"})
        if t.event_id:
            e["events"].append({"event_id": t.event_id, "reason": t.reason, "purpose": t.purpose})
        for row in findings.get(t.request_id or t.event_id or "", []):
            rows.setdefault((row["member_id"], row["snapshot"]), {})[row["item_id"]] = row
    for (member, snapshot), by_item in sorted(rows.items()):
        found = list(by_item.values())
        entry(member)["snapshots"].append({
            "snapshot": snapshot,
            "items_removed": len(found),
            "item_ids": sorted(x["item_id"] for x in found),
            "content_hashes": sorted(x["content_hash"] for x in found),
            "shards": sorted({x["shard"] for x in found}),
            "reasons": sorted({x["reason"] for x in found}),
        })
    for f in report.forward_only:
        entry(f.member_id)["left_as_is"].append({
            "snapshot": f"{f.purpose}/{f.version}", "pack": f.pack, "note": FORWARD_ONLY_NOTE})
    for mc in report.models:
        members = _model_members(mc)
        for member, e in per.items():
            if (members is None or member in members) and e["snapshots"]:
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
