"""Unlearn from live models what a forget run removed from their snapshots.

Called by `forgetting.run` after the snapshot files were rewritten. For every live
model version trained on a changed snapshot it retrains only the shards whose data
hash changed, from their last clean checkpoint (SISA: exact unlearning), registers
the result as a new version (parent = old, old superseded), optionally verifies the
effect on the writing assistant, then deletes the superseded checkpoints that
held the removed data and no live version uses. It returns, per member, what was
unlearned from which model versions: the material for their receipt.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterable

from consentry.settings import Settings
from consentry.training.pipeline import full_train_seconds, retrain_version
from consentry.training.registry import LIVE, Registry


#: evidence sized to take about a minute on 2 cores; benchmarks/unlearning.py runs the thorough one
DEFAULT_VERIFY = {"samples": 63, "drafts": 6, "max_texts": 40, "max_new": 40}


@dataclass
class SnapshotChange:
    """What changed in one snapshot: removed members / items and rewritten shards."""

    purpose: str
    version: str
    members: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    shards: list[int] = field(default_factory=list)

    @classmethod
    def coerce(cls, c: Any) -> SnapshotChange:
        """Accept a SnapshotChange, a dict, or `forgetting.erase.Removal` (duck-typed)."""
        if isinstance(c, cls):
            return c
        get = (lambda k, d=None: c.get(k, d)) if isinstance(c, dict) else (lambda k, d=None: getattr(c, k, d))
        members = set(get("members") or get("member_ids") or [])
        items = set(get("item_ids") or [])
        tab = get("items")
        if tab is not None and hasattr(tab, "column"):  # Arrow tombstones
            members |= set(tab.column("member_id").to_pylist())
            items |= set(tab.column("item_id").to_pylist())
        elif tab is not None:
            items |= set(tab)
        return cls(purpose=str(get("purpose")), version=str(get("version")), members=members, items=items,
                   shards=sorted(get("shards") or []))


@dataclass
class ModelChange:
    """One member's data unlearned from one model version (ids and counts only)."""

    member_id: str
    model: str
    old_version: str
    new_version: str
    snapshot: str
    shards: list[int]
    items_unlearned: int
    retrain_seconds: float
    full_train_seconds: float | None
    at: str
    verification: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def retrain_affected(
    changes: Iterable[Any],
    settings: Settings | None = None,
    *,
    verify: bool = True,
    purge: bool = True,
    verify_options: dict | None = None,
) -> list[ModelChange]:
    """Retrain the affected shards of every live model on the changed snapshots.

    verify_options go to `training.report.verify_forgetting` (samples, drafts, max_texts, max_new);
    default DEFAULT_VERIFY.
    """
    settings = settings or Settings()
    reg = Registry(settings.models)
    out: list[ModelChange] = []
    by_snap: dict[tuple[str, str], SnapshotChange] = {}
    for c in map(SnapshotChange.coerce, changes):
        key = (c.purpose, c.version)
        if key in by_snap:
            by_snap[key].members |= c.members
            by_snap[key].items |= c.items
            by_snap[key].shards = sorted(set(by_snap[key].shards) | set(c.shards))
        else:
            by_snap[key] = c
    for (purpose, version), change in by_snap.items():
        for old in reg.live(purpose=purpose, snapshot_version=version):
            t0 = time.perf_counter()
            new = retrain_version(old, settings.models, trainer_kw=_trainer_kw(old, settings))
            if new is None:
                continue  # none of the removed data was in this model
            seconds = time.perf_counter() - t0
            report = None
            if verify and old["kind"] == "assistant":
                from consentry.training.report import verify_forgetting

                try:
                    report = verify_forgetting(old, new, sorted(change.members), settings,
                                               **{**DEFAULT_VERIFY, **(verify_options or {})})
                except Exception as exc:  # evidence is best effort; it must never block an erasure
                    report = {"error": f"{type(exc).__name__}: {exc}"}
                reg.update(new["version"], verification=report)
            out.extend(_per_member(old, new, change, seconds, report))
            if purge:
                purge_superseded(reg, old)
        if purge:  # superseded versions that still hold the removed data on disk: delete those files
            for v in reg.versions():
                if v["status"] != LIVE and _holds(v, change) and (v["snapshot"]["purpose"], v["snapshot"]["version"]) == (purpose, version):
                    purge_superseded(reg, v)
    return out


def _holds(v: dict, change: SnapshotChange) -> bool:
    return any(change.members & set(s["members"]) or change.items & set(s["items"]) for s in v["shards"])


def _trainer_kw(version: dict, settings: Settings) -> dict:
    if version["kind"] == "matcher":
        return {"cache_dir": Path(settings.models) / "embeddings"}
    return {}


def _per_member(old: dict, new: dict, change: SnapshotChange, seconds: float, report: dict | None) -> list[ModelChange]:
    new_items = {i for s in new["shards"] for i in s["items"]}
    at = datetime.now(UTC).isoformat()
    res = []
    members = set(change.members)
    for s in old["shards"]:
        members |= {m for m in s["members"] if m in change.members}
    for m in sorted(members):
        shards, n = [], 0
        for s in old["shards"]:
            if m not in s["members"]:
                continue
            gone = [i for i, mm in zip(s["items"], s.get("item_members", [])) if mm == m and i not in new_items]
            if gone or m not in next((x["members"] for x in new["shards"] if x["shard"] == s["shard"]), []):
                shards.append(s["shard"])
                n += len(gone)
        if not shards:
            continue
        res.append(ModelChange(
            member_id=m, model=old["name"], old_version=old["version"], new_version=new["version"],
            snapshot=f"{old['snapshot']['purpose']}/{old['snapshot']['version']}", shards=shards, items_unlearned=n,
            retrain_seconds=round(seconds, 3), full_train_seconds=full_train_seconds(old), at=at,
            verification=report,
        ))
    return res


def purge_superseded(reg: Registry, old: dict) -> list[str]:
    """Delete the old version's checkpoints that no live version references.

    Those are exactly the stages trained on the removed data (clean stages are
    shared by content key with the new version and stay), so erasure reaches the
    model files too: the superseded version remains in the registry as lineage
    (ids and hashes) but can no longer be loaded.
    """
    live_refs = {sl["checkpoint"] for v in reg.versions(old["name"]) if v["status"] == LIVE
                 for s in v["shards"] for sl in s["slices"]}
    removed = []
    for s in old["shards"]:
        for sl in s["slices"]:
            if sl["checkpoint"] not in live_refs:
                p = reg.checkpoint_path(old, sl["checkpoint"])
                if p.exists():
                    p.unlink()
                    removed.append(sl["checkpoint"])
    reg.update(old["version"], purged_checkpoints=removed)
    return removed


def summarize(changes: Iterable[ModelChange], settings: Settings | None = None) -> list[dict]:
    """One line per retrained model version: cost against full retraining, quality, verification.

    What the demo prints after a forget run: members, shards retrained, seconds, the
    ratio to the parent's full training time, metrics before/after and the evidence.
    """
    reg = Registry((settings or Settings()).models)
    groups: dict[tuple[str, str], list[ModelChange]] = {}
    for c in changes:
        groups.setdefault((c.old_version, c.new_version), []).append(c)
    out = []
    for (old_v, new_v), cs in groups.items():
        old, new = reg.get(old_v), reg.get(new_v)
        full = full_train_seconds(old)
        spent = new.get("timings", {}).get("retrain_seconds")
        out.append({
            "model": old["name"], "old_version": old_v, "new_version": new_v, "snapshot": cs[0].snapshot,
            "members": len(cs), "shards_retrained": new["timings"].get("retrained_shards"), "shards_total": len(new["shards"]),
            "retrain_seconds": spent, "full_train_seconds": full,
            "speedup": round(full / spent, 2) if full and spent else None,
            "metrics_before": old.get("metrics"), "metrics_after": new.get("metrics"),
            "verification": new.get("verification"),
        })
    return out
