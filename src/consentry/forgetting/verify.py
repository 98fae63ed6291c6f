"""Prove that erased data is gone from every live snapshot file.

Two independent checks per live data file: no row carries an erased item's id or
content hash (the tombstones keep exactly these), and no text contains the
original text of an erased item (substring search with Aho-Corasick over the
originals read from the network export). Quarantine files are searched as well,
since they keep raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.forgetting.erase import tombstones
from consentry.snapshots import layout
from consentry.snapshots.catalog import list_snapshots

MIN_ORIGINAL = 12
"""Originals shorter than this are too generic to search for as substrings."""


@dataclass
class Finding:
    file: str
    item_id: str | None
    check: str  # id | content_hash | original_text
    detail: str = ""


@dataclass
class VerifyReport:
    snapshots: int = 0
    files_scanned: int = 0
    rows_scanned: int = 0
    erased_items: int = 0
    originals_searched: int = 0
    findings: list[Finding] = field(default_factory=list)
    shared: int = 0
    """Hits explained by a different live item's own identical content (generic texts)."""

    @property
    def ok(self) -> bool:
        return not self.findings

    def text(self) -> str:
        head = (
            f"{'OK' if self.ok else 'FAILED'}: {self.erased_items} erased items checked in "
            f"{self.snapshots} snapshots, {self.files_scanned} files, {self.rows_scanned} rows; "
            f"{self.originals_searched} original texts searched; {self.shared} match(es) are other "
            "live items' own identical text"
        )
        lines = [head] + [f"  {f.check}: {f.file} item {f.item_id} {f.detail}" for f in self.findings[:50]]
        return "\n".join(lines)


def _items_source(network_dir: Path) -> str | None:
    for name, fn in (("items.parquet", "read_parquet"), ("items.jsonl", "read_json_auto")):
        p = network_dir / name
        if p.exists():
            return f"{fn}('{p}')"
    parts = sorted(network_dir.glob("items*.parquet"))
    if parts:
        return "read_parquet([" + ", ".join(f"'{p}'" for p in parts) + "])"
    return None


def original_texts(network_dir: Path | None, item_ids: list[str]) -> dict[str, str]:
    """The original (unredacted) texts of `item_ids` from the export, where still there."""
    if network_dir is None or not item_ids:
        return {}
    src = _items_source(Path(network_dir))
    if src is None:
        return {}
    con = duckdb.connect()
    con.register("ids", pa.table({"item_id": item_ids}))
    rows = con.execute(
        f"SELECT item_id::VARCHAR, text::VARCHAR FROM {src} WHERE item_id::VARCHAR IN (SELECT item_id FROM ids)"
    ).fetchall()
    con.close()
    return {i: t for i, t in rows if t}


def verify_erasure(root: str | Path, network_dir: str | Path | None = None) -> VerifyReport:
    """Scan every live snapshot file for erased items (reason `erased`, any snapshot) and
    for items removed from that same snapshot for any other reason."""
    snaps = list_snapshots(root)
    report = VerifyReport(snapshots=len(snaps))
    per_snap: dict[Path, pa.Table] = {s.path: tombstones(s.path) for s in snaps}
    erased = [t.filter(pc.equal(t.column("reason"), "erased")) for t in per_snap.values()]
    erased_t = pa.concat_tables(erased) if erased else None
    global_ids = set(erased_t.column("item_id").to_pylist()) if erased_t is not None else set()
    global_hashes = set(erased_t.column("content_hash").to_pylist()) if erased_t is not None else set()
    all_ids = set(global_ids)
    for t in per_snap.values():
        all_ids.update(t.column("item_id").to_pylist())
    report.erased_items = len(all_ids)
    originals = original_texts(Path(network_dir) if network_dir else None, sorted(all_ids))
    auto = ahocorasick.Automaton()
    for item_id, text in originals.items():
        text = text.strip()
        if len(text) >= MIN_ORIGINAL:
            auto.add_word(text, item_id)
            report.originals_searched += 1
    if report.originals_searched:
        auto.make_automaton()
    candidates: list[Finding] = []
    for s in snaps:
        local = per_snap[s.path]
        ids = global_ids | set(local.column("item_id").to_pylist())
        hashes = global_hashes | set(local.column("content_hash").to_pylist())
        if not ids:
            continue
        for f in s.data_files():
            report.files_scanned += 1
            t = pq.read_table(f, columns=["item_id", "content_hash", "text"])
            report.rows_scanned += t.num_rows
            for item_id, h, text in zip(t.column("item_id").to_pylist(),
                                        t.column("content_hash").to_pylist(),
                                        t.column("text").to_pylist(), strict=True):
                if item_id in ids:
                    report.findings.append(Finding(str(f), item_id, "id"))
                if h in hashes:
                    candidates.append(Finding(str(f), item_id, "content_hash", h))
                if report.originals_searched and text:
                    for _end, orig_id in auto.iter(text):
                        candidates.append(Finding(str(f), item_id, "original_text", orig_id))
                        break
        lin = s.path / layout.LINEAGE
        report.files_scanned += 1
        lt = pq.read_table(lin, columns=["item_id"])
        for item_id in set(lt.column("item_id").to_pylist()) & ids:
            report.findings.append(Finding(str(lin), item_id, "id"))
        q = s.path / layout.QUARANTINE
        if q.exists() and report.originals_searched:
            report.files_scanned += 1
            body = q.read_text("utf-8")
            for _end, orig_id in auto.iter(body):
                report.findings.append(Finding(str(q), orig_id, "original_text"))
    _explain(candidates, report, originals, network_dir)
    return report


def _explain(candidates: list[Finding], report: VerifyReport, originals: dict[str, str],
             network_dir: str | Path | None) -> None:
    """A hit on a live item is a leak unless that item's own original text explains it.

    Synthetic and real networks both have generic texts ("Open to new roles.") that
    many members write: an identical text of another, non-erased item is that item's
    own data. A live row whose id has no original in the export is never explained.
    """
    if not candidates:
        return
    own = original_texts(Path(network_dir) if network_dir else None,
                         sorted({c.item_id for c in candidates if c.item_id}))
    for c in candidates:
        mine = own.get(c.item_id or "")
        if mine is None:
            report.findings.append(c)
        elif c.check == "original_text" and originals.get(c.detail, "\0").strip() not in mine:
            c.detail = f"contains text of {c.detail}"
            report.findings.append(c)
        else:
            report.shared += 1
