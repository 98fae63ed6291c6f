"""Read a snapshot by its on-disk layout (DESIGN.md "Snapshot layout"), nothing else.

Training never imports the snapshot builder: the layout is the contract, so models
can be trained on a snapshot written by either engine, or by hand in a test.
Every shard's rows come back ordered by (created_at, item_id), the order SISA
slices follow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DATA_COLUMNS = ("item_id", "member_id", "kind", "created_at", "text", "content_hash")
_SHARD_DIR = re.compile(r"^shard=(\d+)$")


class SnapshotLayoutError(ValueError):
    """The directory does not follow the snapshot layout; names the file and field."""


@dataclass(frozen=True)
class SnapshotRef:
    """Where a snapshot lives and what it is called in the registry."""

    path: Path
    purpose: str
    version: str

    @classmethod
    def from_path(cls, path: Path | str) -> SnapshotRef:
        p = Path(path).resolve()
        if not (p / "data").is_dir():
            raise SnapshotLayoutError(f"{p}: no data/ directory; not a snapshot")
        return cls(path=p, purpose=p.parent.name, version=p.name)

    def manifest(self) -> dict:
        f = self.path / "manifest.json"
        if not f.exists():
            return {}
        try:
            return json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise SnapshotLayoutError(f"{f}: malformed JSON: {exc}") from exc


def shard_ids(snapshot: Path) -> list[int]:
    """Shard numbers present under data/, sorted."""
    out = []
    for d in (Path(snapshot) / "data").iterdir():
        m = _SHARD_DIR.match(d.name)
        if d.is_dir() and m:
            out.append(int(m.group(1)))
    return sorted(out)


def read_shard(snapshot: Path, shard: int) -> pa.Table:
    """One shard's rows, ordered by (created_at, item_id); empty table when no files."""
    d = Path(snapshot) / "data"
    dirs = [x for x in d.iterdir() if (m := _SHARD_DIR.match(x.name)) and int(m.group(1)) == shard]
    files = sorted(f for x in dirs for f in x.glob("*.parquet"))
    tables = []
    for f in files:
        t = pq.read_table(f)
        missing = [c for c in DATA_COLUMNS if c not in t.column_names]
        if missing:
            raise SnapshotLayoutError(f"{f}: missing column(s) {', '.join(missing)}")
        tables.append(t.select(list(DATA_COLUMNS)))
    if not tables:
        return _empty()
    t = pa.concat_tables(tables, promote_options="permissive")
    null_text = pc.sum(pc.is_null(t["text"])).as_py() or 0
    if null_text:
        # fail closed: a row without text cannot be trained on; drop it, keep the rest
        t = t.filter(pc.is_valid(t["text"]))
    return t.sort_by([("created_at", "ascending"), ("item_id", "ascending")])


def read_shards(snapshot: Path) -> dict[int, pa.Table]:
    return {s: read_shard(snapshot, s) for s in shard_ids(snapshot)}


def read_optional(snapshot: Path, name: str) -> pa.Table | None:
    """interactions.parquet / jobs.parquet / lineage.parquet when present."""
    f = Path(snapshot) / f"{name}.parquet"
    return pq.read_table(f) if f.exists() else None


def _empty() -> pa.Table:
    return pa.table(
        {
            "item_id": pa.array([], pa.string()),
            "member_id": pa.array([], pa.string()),
            "kind": pa.array([], pa.string()),
            "created_at": pa.array([], pa.timestamp("us", tz="UTC")),
            "text": pa.array([], pa.string()),
            "content_hash": pa.array([], pa.string()),
        }
    )


def latest_snapshot(root: Path, purpose: str) -> Path | None:
    """Newest complete version directory of a purpose (by name: versions sort)."""
    d = Path(root) / purpose
    if not d.is_dir():
        return None
    versions = sorted(x for x in d.iterdir() if x.is_dir() and (x / "data").is_dir() and not x.name.startswith("."))
    return versions[-1] if versions else None
