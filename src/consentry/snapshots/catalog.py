"""Read side of the snapshot store: list, load, diff.

Readers go by layout only (DESIGN.md), so training, the privacy center and the CLI
all see the same thing: a published version directory with its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from consentry.snapshots import layout
from consentry.snapshots.manifest import Manifest


@dataclass
class Snapshot:
    """A published snapshot: its directory and manifest."""

    path: Path
    manifest: Manifest

    @property
    def purpose(self) -> str:
        return self.manifest.purpose

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def ref(self) -> str:
        return f"{self.purpose}/{self.version}"

    def data_files(self) -> list[Path]:
        return sorted(p for p in (self.path / layout.DATA).glob("shard=*/*.parquet")
                      if not p.name.startswith(layout.TMP_PREFIX))

    @property
    def unfinished_forget(self) -> str | None:
        """Why a forget is unfinished on this snapshot (torn or still holding its data), or None."""
        return layout.forget_state(self.path)

    def require_whole(self) -> None:
        """Raise `layout.UnfinishedForget` (one line, names the fix) while a forget is unfinished."""
        layout.require_whole(self.path)


def list_snapshots(root: str | Path, purpose: str | None = None) -> list[Snapshot]:
    """Every published snapshot under `root` (optionally one purpose), oldest first."""
    root = Path(root)
    out: list[Snapshot] = []
    if not root.is_dir():
        return out
    purposes = [purpose] if purpose else sorted(p.name for p in root.iterdir() if p.is_dir()
                                                and not p.name.startswith("."))
    for p in purposes:
        for v in layout.versions(root / p):
            try:
                out.append(load(root, p, v))
            except FileNotFoundError:
                continue  # a directory without manifest is not a snapshot
    return out


def load(root: str | Path, purpose: str, version: str | None = None) -> Snapshot:
    """One snapshot by purpose and version (`latest` or None: the newest)."""
    purpose_dir = Path(root) / purpose
    if version in (None, "latest"):
        vs = layout.versions(purpose_dir)
        if not vs:
            raise FileNotFoundError(f"{purpose_dir}: no snapshot of {purpose!r}")
        version = vs[-1]
    path = purpose_dir / version
    m = Manifest.read(path)
    m.version = version
    return Snapshot(path, m)


def resolve(root: str | Path, ref: str) -> Snapshot:
    """`purpose/version`, `purpose` (newest) or a path to a snapshot directory."""
    p = Path(ref)
    if (p / layout.MANIFEST).exists():
        m = Manifest.read(p)
        m.version = p.name
        return Snapshot(p, m)
    purpose, _, version = ref.partition("/")
    return load(root, purpose, version or None)


@dataclass
class Diff:
    a: str
    b: str
    added: pa.Table  # item_id, member_id
    removed: pa.Table  # item_id, member_id, reasons (from B's excluded log or tombstones)
    changed: pa.Table  # item_id: same item, different redacted content
    summary: dict[str, int] = field(default_factory=dict)


def diff(a: Snapshot, b: Snapshot) -> Diff:
    """Items added in B and removed from A, with why B no longer holds them.

    Refuses (`layout.UnfinishedForget`) while a forget is unfinished on either: a torn
    lineage would list removals that did not happen.
    """
    a.require_whole()
    b.require_whole()
    con = duckdb.connect()
    la, lb = a.path / layout.LINEAGE, b.path / layout.LINEAGE
    con.execute(f"CREATE VIEW la AS SELECT * FROM read_parquet('{la}')")
    con.execute(f"CREATE VIEW lb AS SELECT * FROM read_parquet('{lb}')")
    why = ["SELECT item_id, reasons FROM read_parquet('" + str(b.path / layout.EXCLUDED) + "')"]
    tomb = b.path / layout.TOMBSTONES
    if tomb.exists():
        why.append(f"SELECT item_id, [reason] AS reasons FROM read_parquet('{tomb}')")
    con.execute("CREATE VIEW why AS " + " UNION ALL ".join(why))
    added = con.sql(
        "SELECT item_id, member_id FROM lb ANTI JOIN la USING (item_id) ORDER BY item_id"
    ).to_arrow_table()
    removed = con.sql(
        "SELECT la.item_id, la.member_id, CASE WHEN count(why.item_id) = 0 THEN ['not_in_input'] "
        "ELSE list_distinct(flatten(list(why.reasons) FILTER (WHERE why.reasons IS NOT NULL))) END "
        "AS reasons FROM la ANTI JOIN lb USING (item_id) LEFT JOIN why USING (item_id) "
        "GROUP BY ALL ORDER BY la.item_id"
    ).to_arrow_table()
    changed = con.sql(
        "SELECT item_id FROM la JOIN lb USING (item_id) WHERE la.content_hash <> lb.content_hash "
        "ORDER BY item_id"
    ).to_arrow_table()
    by_reason = dict(
        con.execute(
            "SELECT r, count(*) FROM (SELECT unnest(reasons) r FROM removed) GROUP BY r ORDER BY r"
        ).fetchall()
    ) if removed.num_rows else {}
    con.close()
    summary = {"added": added.num_rows, "removed": removed.num_rows, "changed": changed.num_rows}
    summary.update({f"removed:{k}": v for k, v in by_reason.items()})
    return Diff(a.ref, b.ref, added, removed, changed, summary)
