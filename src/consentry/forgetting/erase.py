"""Remove members' or items' data from one live snapshot, physically and atomically.

Only the shard files that hold affected rows are rewritten (each by one rename, so
the old bytes are gone and no reader sees a half-written file). A journal written
first makes the whole change redoable: a crash half-way is finished by the next
run. What remains is a tombstone per removed item: ids and content hashes, never
text, so the removal can be proved later without keeping what was removed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.forgetting.steps import reached
from consentry.snapshots import kernel, layout
from consentry.snapshots.catalog import Snapshot
from consentry.snapshots.manifest import ForgetEntry, Manifest

TOMBSTONE_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("shard", pa.int32()),
        pa.field("content_hash", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass
class Target:
    """What to remove and why: whole members, or single items (with their author)."""

    reason: str  # erased | opted_out | objected
    request_id: str | None = None
    members: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)


@dataclass
class Removal:
    """What one forget run did to one snapshot (ids and hashes only)."""

    purpose: str
    version: str
    path: Path
    items: pa.Table  # TOMBSTONE_SCHEMA rows added
    shards: list[int]
    content_hash_before: str
    content_hash_after: str

    @property
    def members(self) -> set[str]:
        return set(self.items.column("member_id").to_pylist())


def _affected(snap: Snapshot, targets: list[Target], run_id: str, at: dt.datetime) -> pa.Table:
    """Lineage rows hit by any target, labelled with reason and request (first target wins)."""
    rows = []
    for t in targets:
        for m in sorted(t.members):
            rows.append(("member", m, t.reason, t.request_id))
        for i in sorted(t.items):
            rows.append(("item", i, t.reason, t.request_id))
    if not rows:
        return TOMBSTONE_SCHEMA.empty_table()
    keys = pa.table({
        "key_kind": [r[0] for r in rows], "key": [r[1] for r in rows],
        "reason": [r[2] for r in rows], "request_id": [r[3] for r in rows],
        "ord": list(range(len(rows))),
    })
    con = duckdb.connect()
    con.register("keys", keys)
    lineage = f"read_parquet('{snap.path / layout.LINEAGE}')"
    # Two equi-joins (hash joins), not one OR-join (a nested loop over lineage x keys).
    out = con.sql(
        f"""
        WITH hits AS (
          SELECT l.*, k.reason, k.request_id, k.ord FROM {lineage} l
          JOIN keys k ON k.key_kind = 'member' AND k.key = l.member_id
          UNION ALL
          SELECT l.*, k.reason, k.request_id, k.ord FROM {lineage} l
          JOIN keys k ON k.key_kind = 'item' AND k.key = l.item_id
        )
        SELECT item_id, member_id, shard::INTEGER AS shard, content_hash,
               arg_min(reason, ord) AS reason, arg_min(request_id, ord) AS request_id
        FROM hits GROUP BY item_id, member_id, shard, content_hash ORDER BY shard, item_id
        """
    ).to_arrow_table()
    con.close()
    n = out.num_rows
    return pa.Table.from_arrays(
        [out.column("item_id"), out.column("member_id"), out.column("shard"),
         out.column("content_hash"), out.column("reason"), out.column("request_id"),
         pa.array([run_id] * n, pa.string()), pa.array([at] * n, TOMBSTONE_SCHEMA.field("at").type)],
        schema=TOMBSTONE_SCHEMA,
    )


def affected(snap: Snapshot, targets: list[Target]) -> pa.Table:
    """The lineage rows of `snap` that `targets` name, with the request that names each."""
    return _affected(snap, targets, "", dt.datetime.now(dt.UTC))


def hits(snap: Snapshot, targets: list[Target]) -> bool:
    """Whether `snap` holds anything `targets` name (a read of its lineage)."""
    return affected(snap, targets).num_rows > 0


def _journal_path(snap_path: Path) -> Path:
    return snap_path / layout.JOURNAL


def remove(snap: Snapshot, targets: list[Target], run_id: str, at: dt.datetime | None = None) -> Removal | None:
    """Remove what `targets` name from `snap`; None when the snapshot holds none of it."""
    at = at or dt.datetime.now(dt.UTC)
    with layout.purpose_lock(snap.path.parent):
        recover(snap.path)
        gone = _affected(snap, targets, run_id, at)
        if gone.num_rows == 0:
            return None
        journal = {
            "run_id": run_id,
            "at": at.isoformat(),
            "rows": gone.drop_columns(["at"]).to_pylist(),
            "request_ids": sorted({t.request_id for t in targets if t.request_id}),
        }
        layout.write_atomic(_journal_path(snap.path), json.dumps(journal).encode())
        reached("snapshot_journal")
        return _apply(snap.path, journal)


def recover(snap_path: Path) -> Removal | None:
    """Finish a forget run that was interrupted on this snapshot (idempotent)."""
    jp = _journal_path(snap_path)
    if not jp.exists():
        return None
    journal = json.loads(jp.read_bytes())
    return _apply(snap_path, journal)


def _apply(snap_path: Path, journal: dict) -> Removal:
    _clean_tmp(snap_path)
    at = dt.datetime.fromisoformat(journal["at"])
    rows = journal["rows"]
    for r in rows:
        r["at"] = at
    gone = pa.Table.from_pylist(rows, schema=TOMBSTONE_SCHEMA)
    gone_ids = pa.array(sorted(set(gone.column("item_id").to_pylist())), pa.string())
    manifest = Manifest.read(snap_path)
    before = manifest.content_hash
    shards = sorted(set(gone.column("shard").to_pylist()))
    for shard in shards:
        path = layout.shard_file(snap_path, shard)
        t = pq.read_table(path)
        keep = t.filter(pc.invert(pc.is_in(t.column("item_id"), value_set=gone_ids)))
        if keep.num_rows != t.num_rows:
            tmp = path.with_name(f"{layout.TMP_PREFIX}{journal['run_id']}-{path.name}")
            kernel.write_data_file(keep, tmp)
            layout.replace_file(tmp, path)
            layout.fsync_path(path.parent)
            reached("shard_rewritten")
        manifest.shard_hashes[f"{shard:02d}"] = kernel.shard_hash(keep)
        by_shard = manifest.counts.setdefault("by_shard", {})
        by_shard[f"{shard:02d}"] = keep.num_rows
    remaining_members = _rewrite_lineage(snap_path, gone_ids, set(gone.column("member_id").to_pylist()))
    reached("lineage_rewritten")
    fully_gone = set(gone.column("member_id").to_pylist()) - remaining_members
    _rewrite_interactions(snap_path, fully_gone)
    _scrub_quarantine(snap_path, set(gone_ids.to_pylist()), fully_gone)
    _append_tombstones(snap_path, gone)
    reached("tombstones_written")
    after = kernel.content_hash(manifest.shard_hashes)
    if not any(e.run_id == journal["run_id"] for e in manifest.forget_history):
        reasons: dict[str, int] = {}
        for r in gone.column("reason").to_pylist():
            reasons[r] = reasons.get(r, 0) + 1
        manifest.forget_history.append(ForgetEntry(
            run_id=journal["run_id"], at=at, request_ids=journal.get("request_ids", []),
            reasons=reasons, members=len(set(gone.column("member_id").to_pylist())),
            items_removed=gone.num_rows, shards_rewritten=shards,
            content_hash_before=before, content_hash_after=after,
        ))
        manifest.counts["included"] = int(manifest.counts.get("included", 0)) - gone.num_rows
        manifest.counts["forgotten"] = int(manifest.counts.get("forgotten", 0)) + gone.num_rows
    manifest.content_hash = after
    version = snap_path.name
    manifest.version = version
    manifest.write(snap_path)
    reached("manifest_swapped")
    _journal_path(snap_path).unlink(missing_ok=True)
    layout.fsync_path(snap_path)
    reached("snapshot_done")
    return Removal(manifest.purpose, version, snap_path, gone, shards, before, after)


def _clean_tmp(snap_path: Path) -> None:
    """Half-written files of a killed run (never read: a reader globs them as data)."""
    for p in [*snap_path.glob(f"{layout.TMP_PREFIX}*"), *snap_path.glob(f"{layout.DATA}/*/{layout.TMP_PREFIX}*")]:
        p.unlink(missing_ok=True)


def removal_of_run(snap: Snapshot, run_id: str) -> Removal | None:
    """What run `run_id` removed from `snap`, read back from its tombstones and manifest.

    A rerun after a crash reports from these records, not from what it removes
    itself (by then nothing), so its receipts say what the first attempt did.
    """
    tomb = tombstones(snap.path)
    mine = tomb.filter(pc.equal(tomb.column("run_id"), run_id))
    if mine.num_rows == 0:
        return None
    manifest = Manifest.read(snap.path)  # as on disk now: `snap` may predate this run's rewrite
    entry = next((e for e in manifest.forget_history if e.run_id == run_id), None)
    shards = sorted(set(mine.column("shard").to_pylist()))
    before = entry.content_hash_before if entry else manifest.content_hash
    after = entry.content_hash_after if entry else manifest.content_hash
    return Removal(snap.purpose, snap.path.name, snap.path, mine, shards, before, after)


def _rewrite_lineage(snap_path: Path, gone_ids: pa.Array, members: set[str]) -> set[str]:
    """Stream lineage without the removed items; returns which of `members` still have items."""
    path = snap_path / layout.LINEAGE
    tmp = path.with_name(f"{layout.TMP_PREFIX}{path.name}")
    member_set = pa.array(sorted(members), pa.string())
    still: set[str] = set()
    pf = pq.ParquetFile(path)
    with pq.ParquetWriter(tmp, kernel.LINEAGE_SCHEMA, **kernel.WRITE_OPTIONS) as w:
        for batch in pf.iter_batches(batch_size=262_144):
            t = pa.Table.from_batches([batch]).cast(kernel.LINEAGE_SCHEMA)
            t = t.filter(pc.invert(pc.is_in(t.column("item_id"), value_set=gone_ids)))
            hit = t.filter(pc.is_in(t.column("member_id"), value_set=member_set))
            still.update(hit.column("member_id").to_pylist())
            w.write_table(t)
    layout.replace_file(tmp, path)
    return still


def _rewrite_interactions(snap_path: Path, members: set[str]) -> None:
    """Job interactions are kept only for members with data in the snapshot."""
    path = snap_path / layout.INTERACTIONS
    if not members or not path.exists():
        return
    t = pq.read_table(path)
    keep = t.filter(pc.invert(pc.is_in(t.column("member_id"), value_set=pa.array(sorted(members)))))
    if keep.num_rows == t.num_rows:
        return
    tmp = path.with_name(f"{layout.TMP_PREFIX}{path.name}")
    pq.write_table(keep, tmp, row_group_size=kernel.ROW_GROUP, **kernel.WRITE_OPTIONS)
    layout.replace_file(tmp, path)


def _scrub_quarantine(snap_path: Path, items: set[str], members: set[str]) -> None:
    """Quarantined raw rows of removed items (or of fully removed members) go too."""
    path = snap_path / layout.QUARANTINE
    if not path.exists() or path.stat().st_size == 0:
        return
    kept: list[str] = []
    changed = False
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip() and _quarantine_hit(line, items, members):
                changed = True
                continue
            kept.append(line)
    if changed:
        layout.write_atomic(path, "".join(kept).encode("utf-8"))


def _quarantine_hit(line: str, items: set[str], members: set[str]) -> bool:
    try:
        rec = json.loads(line)
    except ValueError:
        return False
    raw = rec.get("raw")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return any(f'"{x}"' in raw for x in items | members)
    if isinstance(raw, dict):
        return raw.get("item_id") in items or (
            raw.get("member_id") in members and rec.get("table") in ("items", "job_interactions")
        )
    return False


def _append_tombstones(snap_path: Path, gone: pa.Table) -> None:
    path = snap_path / layout.TOMBSTONES
    parts = [pq.read_table(path).cast(TOMBSTONE_SCHEMA)] if path.exists() else []
    t = pa.concat_tables([*parts, gone])
    # Idempotent on redo: one row per (run, item).
    con = duckdb.connect()
    t = con.sql(
        "SELECT * FROM t QUALIFY row_number() OVER (PARTITION BY run_id, item_id ORDER BY \"at\") = 1 "
        "ORDER BY \"at\", run_id, item_id"
    ).to_arrow_table().cast(TOMBSTONE_SCHEMA)
    con.close()
    tmp = path.with_name(f"{layout.TMP_PREFIX}{path.name}")
    pq.write_table(t, tmp, row_group_size=kernel.ROW_GROUP, **kernel.WRITE_OPTIONS)
    layout.replace_file(tmp, path)


def tombstones(snap_path: Path) -> pa.Table:
    path = snap_path / layout.TOMBSTONES
    return pq.read_table(path).cast(TOMBSTONE_SCHEMA) if path.exists() else TOMBSTONE_SCHEMA.empty_table()


def live_hashes(snaps: Iterable[Snapshot], hashes: set[str]) -> set[str]:
    """Which of `hashes` some snapshot's lineage still lists (another item with the same content)."""
    value_set = pa.array(sorted(hashes), pa.string())
    found: set[str] = set()
    if len(value_set) == 0:
        return found
    for snap in snaps:
        col = pq.read_table(snap.path / layout.LINEAGE, columns=["content_hash"]).column("content_hash")
        found |= set(pc.unique(col.filter(pc.is_in(col, value_set=value_set))).to_pylist())
    return found


def targets_for_items(item_ids: Iterable[str], reason: str, request_id: str | None) -> Target:
    return Target(reason=reason, request_id=request_id, items=set(item_ids))
