"""Prove that erased data is gone from every copy consentry keeps.

What is erased comes from two records: the snapshots' tombstones and the ledger's
erasure requests (processed or not: a request whose data is still live is an
unfinished erasure, not a success). Checks, each a finding when it fails:

- unfinished: a forget run's journal or a snapshot's redo journal is still there;
- snapshots (every version): no data or lineage row carries an erased item's id,
  an erased member's id or an erased content hash, and no text contains an erased
  item's original text (Aho-Corasick over the originals read from the export);
  quarantine files are searched too, since they keep raw rows;
- staged exports (`$CONSENTRY_HOME/staged/`): no erased item keeps its text, no erased
  account its display name, handle or birth date (`members.parquet`);
- the center's export bundles (`exports/<member>/`): none left for a member who asked
  for an erasure;
- caches keyed by content hash (`models/embeddings/`): no erased hash;
- models: no live version's lineage holds erased data, and the checkpoints of
  superseded versions that did are deleted;
- everything else under the home (logs, receipts, the center's export files, a
  killed build's leftovers): no erased original text, in text, JSON, Parquet or zip.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.forgetting import copies
from consentry.forgetting.erase import live_hashes, tombstones
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
    unfinished: list[str] = field(default_factory=list)
    """Forget runs (or torn snapshots) not yet finished: the erasure is not done."""
    pending_requests: int = 0
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
        return not self.findings and not self.unfinished

    def text(self) -> str:
        state = "OK" if self.ok else ("UNFINISHED" if self.unfinished and not self.findings else "FAILED")
        head = (
            f"{state}: {self.erased_items} erased items checked in "
            f"{self.snapshots} snapshots, {self.files_scanned} files, {self.rows_scanned} rows; "
            f"{self.originals_searched} original texts searched; {self.shared} match(es) are other "
            "live items' own identical text"
        )
        lines = [head] + [f"  unfinished: {u}; run consentry forget --resume" for u in self.unfinished]
        if self.pending_requests:
            lines.append(f"  {self.pending_requests} erasure request(s) not yet processed; run consentry forget --pending")
        lines += [f"  {f.check}: {f.file} item {f.item_id} {f.detail}" for f in self.findings[:50]]
        if len(self.findings) > 50:
            lines.append(f"  ... and {len(self.findings) - 50} more")
        return "\n".join(lines)


def _items_source(network_dir: Path) -> str | None:
    """The export's items as a DuckDB table function: items.parquet, items.jsonl, the parts
    in items/ (as staging reads them, `reader.table_files`) or items*.parquet."""
    from consentry.network.reader import table_files

    files = table_files(network_dir, "items") or sorted(network_dir.glob("items*.parquet"))
    parquet = [f for f in files if f.suffix == ".parquet"]
    jsonl = [f for f in files if f.suffix == ".jsonl"]
    lit = lambda fs: "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in fs) + "]"  # noqa: E731
    if parquet and jsonl:
        return (f"(SELECT item_id::VARCHAR AS item_id, member_id::VARCHAR AS member_id, text::VARCHAR AS text "
                f"FROM read_parquet({lit(parquet)}) UNION ALL SELECT item_id::VARCHAR, member_id::VARCHAR, "
                f"text::VARCHAR FROM read_json_auto({lit(jsonl)}))")
    if parquet:
        return f"read_parquet({lit(parquet)})"
    if jsonl:
        return f"read_json_auto({lit(jsonl)})"
    return None


def original_texts(network_dir: Path | None, item_ids: list[str], members: set[str] | None = None) -> dict[str, str]:
    """The original (unredacted) texts of `item_ids` (and of every item of `members`) from the export."""
    if network_dir is None or not (item_ids or members):
        return {}
    src = _items_source(Path(network_dir))
    if src is None:
        return {}
    con = duckdb.connect()
    con.register("ids", pa.table({"item_id": pa.array(item_ids, pa.string())}))
    con.register("mids", pa.table({"member_id": pa.array(sorted(members or ()), pa.string())}))
    rows = con.execute(
        f"SELECT item_id::VARCHAR, text::VARCHAR FROM {src} WHERE item_id::VARCHAR IN (SELECT item_id FROM ids) "
        "OR member_id::VARCHAR IN (SELECT member_id FROM mids)"
    ).fetchall()
    con.close()
    return {i: t for i, t in rows if t}


def verify_erasure(
    root: str | Path,
    network_dir: str | Path | None = None,
    *,
    ledger: Any = None,
    home: str | Path | None = None,
    models_dir: str | Path | None = None,
    missing_ok: bool = False,
) -> VerifyReport:
    """Check every copy for erased data (see the module's docstring); `root` must exist.

    `ledger` adds its erasure requests to the tombstones; `home` adds the staged
    exports and the sweep of everything else under it; `models_dir` the registry,
    checkpoints and caches. Each is skipped when not given. A missing `root` is an
    error unless `missing_ok` (nothing built yet: the other copies are still checked).
    """
    root = Path(root)
    if not root.is_dir() and not missing_ok:
        raise FileNotFoundError(f"{root}: no such snapshots directory")
    snaps = list_snapshots(root)
    report = VerifyReport(snapshots=len(snaps))
    report.unfinished = _unfinished(root, snaps)
    requested = copies.erased_in_ledger(ledger)
    report.pending_requests = len(requested.pending)
    per_snap: dict[Path, pa.Table] = {s.path: tombstones(s.path) for s in snaps}
    erased = [t.filter(pc.equal(t.column("reason"), "erased")) for t in per_snap.values()]
    erased_t = pa.concat_tables(erased) if erased else None
    global_ids = set(erased_t.column("item_id").to_pylist()) if erased_t is not None else set()
    global_hashes = set(erased_t.column("content_hash").to_pylist()) if erased_t is not None else set()
    global_ids |= set(requested.items)
    members = set(requested.members)
    all_ids = set(global_ids)
    for t in per_snap.values():
        all_ids.update(t.column("item_id").to_pylist())
    originals = original_texts(Path(network_dir) if network_dir else None, sorted(all_ids), members)
    all_ids |= set(originals)
    report.erased_items = len(all_ids)
    auto = ahocorasick.Automaton()
    for item_id, text in originals.items():
        text = text.strip()
        if len(text) >= MIN_ORIGINAL:
            auto.add_word(text, item_id)
            report.originals_searched += 1
    if report.originals_searched:
        auto.make_automaton()
    candidates: list[Finding] = []
    member_set = pa.array(sorted(members), pa.string())
    for s in snaps:
        local = per_snap[s.path]
        ids = global_ids | set(local.column("item_id").to_pylist())
        hashes = global_hashes | set(local.column("content_hash").to_pylist())
        if not ids and not members:
            continue
        for f in s.data_files():
            report.files_scanned += 1
            t = pq.read_table(f, columns=["item_id", "member_id", "content_hash", "text"])
            report.rows_scanned += t.num_rows
            for item_id, member_id in _member_hits(t, member_set):
                report.findings.append(Finding(str(f), item_id, "member",
                                               f"of {member_id} (request {requested.members[member_id]})"))
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
        lt = pq.read_table(lin, columns=["item_id", "member_id"])
        for item_id in set(lt.column("item_id").to_pylist()) & ids:
            report.findings.append(Finding(str(lin), item_id, "id"))
        for item_id, member_id in _member_hits(lt, member_set):
            report.findings.append(Finding(str(lin), item_id, "member", f"of {member_id}"))
        inter = s.path / layout.INTERACTIONS
        if inter.exists() and len(member_set):
            report.files_scanned += 1
            it = pq.read_table(inter, columns=["member_id"])
            for m in set(it.filter(pc.is_in(it.column("member_id"), value_set=member_set)).column("member_id").to_pylist()):
                report.findings.append(Finding(str(inter), None, "member", f"interactions of {m}"))
        q = s.path / layout.QUARANTINE
        if q.exists() and report.originals_searched:
            report.files_scanned += 1
            body = q.read_text("utf-8")
            for _end, orig_id in auto.iter(body):
                report.findings.append(Finding(str(q), orig_id, "original_text"))
    _explain(candidates, report, originals, network_dir)
    if home is not None:
        for file, item_id, detail in copies.staged_findings(Path(home) / "staged", requested):
            report.findings.append(Finding(file, item_id, "staged", detail))
        for d in copies.export_dirs(Path(home), requested):
            report.findings.append(Finding(str(d), None, "export", "export bundles of a member who asked for erasure"))
    if models_dir is not None:
        _check_models(Path(models_dir), snaps, per_snap, global_ids, members, report)
        live = live_hashes(snaps, global_hashes)
        for file, h in copies.cache_findings(Path(models_dir), global_hashes - live):
            report.findings.append(Finding(file, None, "cache", h))
    if home is not None and report.originals_searched:
        shared = _shared_originals(network_dir, originals, all_ids)
        _sweep(Path(home), root, network_dir, models_dir, auto, shared, report)
    return report


def _unfinished(root: Path, snaps: list[Any]) -> list[str]:
    out = []
    for j in layout.forget_runs(root):
        out.append(f"forget run {j.get('run_id')} (at step {j.get('phase')}, "
                   f"snapshots {', '.join(j.get('snapshots') or []) or 'none'})")
    for s in snaps:
        if (s.path / layout.JOURNAL).exists():
            out.append(f"{s.ref} is torn (a forget run was interrupted while rewriting it)")
    return out


def _member_hits(t: pa.Table, member_set: pa.Array) -> list[tuple[str, str]]:
    if len(member_set) == 0:
        return []
    hit = t.filter(pc.is_in(t.column("member_id"), value_set=member_set))
    return list(zip(hit.column("item_id").to_pylist(), hit.column("member_id").to_pylist(), strict=True))


def _check_models(models_dir: Path, snaps: list[Any], per_snap: dict[Path, pa.Table], ids: set[str],
                  members: set[str], report: VerifyReport) -> None:
    """Through the registry's lineage: live versions hold no erased data; superseded ones
    that did have no checkpoint left on disk that a live version does not share."""
    if not (models_dir / "registry.json").exists():
        return
    from consentry.training.registry import LIVE, Registry

    reg = Registry(models_dir)
    versions = reg.versions()
    local = {s.ref: set(per_snap[s.path].column("item_id").to_pylist()) for s in snaps}
    live_refs = {sl.get("checkpoint") for v in versions if v.get("status") == LIVE
                 for sh in v.get("shards", []) for sl in sh.get("slices", [])}
    for v in versions:
        snap = v.get("snapshot") or {}
        gone = ids | local.get(f"{snap.get('purpose')}/{snap.get('version')}", set())
        for sh in v.get("shards", []):
            n_items = len(gone & set(sh.get("items", [])))
            n_members = len(members & set(sh.get("members", [])))
            if not (n_items or n_members):
                continue
            where = f"{reg.file} version {v.get('version')} shard {sh.get('shard')}"
            if v.get("status") == LIVE:
                report.findings.append(Finding(where, None, "model",
                                               f"live, trained on {n_items} removed item(s) / {n_members} erased member(s)"))
                continue
            for sl in sh.get("slices", []):
                ck = sl.get("checkpoint")
                if ck and ck not in live_refs and reg.checkpoint_path(v, ck).exists():
                    report.findings.append(Finding(str(reg.checkpoint_path(v, ck)), None, "checkpoint",
                                                   f"of superseded {v.get('version')}, trained on erased data"))


SWEEP_TEXT = {".json", ".jsonl", ".log", ".txt", ".csv", ".tsv", ".md", ".html", ".xml", ".yaml", ".yml"}
SWEEP_SKIP = {".sqlite", ".sqlite-wal", ".sqlite-shm", ".lock", ".safetensors", ".pt", ".bin", ".gguf"}


def _sweep_files(home: Path, root: Path, network_dir: str | Path | None,
                 models_dir: str | Path | None) -> list[Path]:
    """Every file under the home but the export, published snapshots, complete stagings and checkpoints."""
    skip = {Path(network_dir).resolve()} if network_dir else set()
    skip |= {s.resolve() for p in (root.iterdir() if root.is_dir() else []) if p.is_dir()
             for s in (p / v for v in layout.versions(p))}
    if models_dir is not None:
        skip.add(Path(models_dir).resolve() / "checkpoints")
    skip |= {d.resolve() for d in copies.staged_dirs(home / "staged")}  # checked by id (staged_findings)
    out = []
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.suffix in SWEEP_SKIP:
            continue
        rp = path.resolve()
        if any(rp.is_relative_to(x) for x in skip):
            continue
        out.append(path)
    return out


def _sweep(home: Path, root: Path, network_dir: str | Path | None, models_dir: str | Path | None,
           auto: Any, shared: set[str], report: VerifyReport) -> None:
    """Everything else under the home: logs, receipts, exports, caches, leftovers.

    The export itself (the platform's input) and published snapshot versions (checked
    above, row by row) are skipped, as are binary model files (the registry check
    covers them). A hit is an erased item's original text, unless another member
    wrote the very same text (then it is that member's own data).
    """
    for path in _sweep_files(home, root, network_dir, models_dir):
        for where, text in _texts(path):
            report.files_scanned += 1
            for _end, orig_id in auto.iter(text):
                if orig_id not in shared:
                    report.findings.append(Finding(where, orig_id, "original_text", "an erased item's text"))
                    break


LOG_SUFFIXES = {".log", ".jsonl", ".txt"}


def scrub_logs(root: str | Path, network_dir: str | Path | None, *, ledger: Any, home: str | Path,
               models_dir: str | Path | None = None) -> list[Path]:
    """Drop every line of a log under the home that holds an erased item's original text.

    Logs are line files (`.log`, `.jsonl`, `.txt`): a line is one record, so dropping it
    loses no other record. Returns the files rewritten (each in one rename).
    """
    root, home = Path(root), Path(home)
    logs = [p for p in _sweep_files(home, root, network_dir, models_dir) if p.suffix in LOG_SUFFIXES]
    if not logs:
        return []
    snaps = list_snapshots(root)
    ids: set[str] = set()
    for s in snaps:
        t = tombstones(s.path)
        ids |= set(t.filter(pc.equal(t.column("reason"), "erased")).column("item_id").to_pylist())
    requested = copies.erased_in_ledger(ledger)
    ids |= set(requested.items)
    originals = original_texts(Path(network_dir) if network_dir else None, sorted(ids), set(requested.members))
    shared = _shared_originals(network_dir, originals, ids | set(originals))
    auto = ahocorasick.Automaton()
    for item_id, text in originals.items():
        if item_id not in shared and len(text.strip()) >= MIN_ORIGINAL:
            auto.add_word(text.strip(), item_id)
    if len(auto) == 0:
        return []
    auto.make_automaton()
    changed = []
    for path in logs:
        lines = path.read_text("utf-8", errors="replace").splitlines(keepends=True)
        kept = [x for x in lines if next(auto.iter(x), None) is None]
        if len(kept) != len(lines):
            layout.write_atomic(path, "".join(kept).encode("utf-8"))
            changed.append(path)
    return changed


def _texts(path: Path) -> list[tuple[str, str]]:
    """The text a file holds, per part: text files whole, Parquet string columns, zip members."""
    try:
        if path.suffix in SWEEP_TEXT:
            return [(str(path), path.read_text("utf-8", errors="replace"))]
        if path.suffix == ".parquet":
            t = pq.read_table(path)
            cols = [c for c, f in zip(t.column_names, t.schema, strict=True)
                    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            return [(str(path), "\n".join(x for c in cols for x in t.column(c).to_pylist() if x))]
        if path.suffix == ".zip":
            out = []
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    if Path(name).suffix in SWEEP_TEXT:
                        out.append((f"{path}!{name}", z.read(name).decode("utf-8", errors="replace")))
            return out
    except (OSError, ValueError, zipfile.BadZipFile, pa.ArrowException):
        return []
    return []


def _shared_originals(network_dir: str | Path | None, originals: dict[str, str], erased: set[str]) -> set[str]:
    """Erased items whose exact text another, non-erased item of the export also has."""
    src = _items_source(Path(network_dir)) if network_dir else None
    if src is None or not originals:
        return set()
    con = duckdb.connect()
    con.register("orig", pa.table({"item_id": list(originals), "text": list(originals.values())}))
    con.register("gone", pa.table({"item_id": sorted(erased)}))
    rows = con.execute(
        f"SELECT DISTINCT o.item_id FROM orig o JOIN {src} i ON i.text::VARCHAR = o.text "
        "WHERE i.item_id::VARCHAR NOT IN (SELECT item_id FROM gone)"
    ).fetchall()
    con.close()
    return {r[0] for r in rows}


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
