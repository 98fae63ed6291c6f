"""File-level jobs behind `consentry redact find|apply`: JSONL in, JSONL out.

Input lines are `{"id": ..., "text": ...}`. A line that is not JSON, not an object,
or lacks an `id` or a string `text` is not guessed at: it goes to a quarantine file
with its line number, field and error, so every input line ends in exactly one of
the output or the quarantine. Chunks of lines are processed on `workers` processes
(`redactor.parallel_map`) and written in input order; `progress` is told how many
bytes of the input each chunk took.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.redact.directory import MemberDirectory
from consentry.redact.redactor import Redactor, parallel_map

CHUNK = 2048


@dataclass
class JobReport:
    read: int = 0
    written: int = 0
    quarantined: int = 0
    spans: int = 0
    dropped: int = 0
    quarantine_path: Path | None = None


def _records(path: Path, quarantine: list[dict]) -> Iterator[tuple[object, str, int]]:
    """(id, text, bytes of the line) per valid line; anything else goes to `quarantine`."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            size = len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                quarantine.append({"file": str(path), "row": lineno, "field": None, "error": f"not UTF-8: {exc}",
                                   "raw": raw.decode("utf-8", "replace").rstrip("\n")})
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                quarantine.append({"file": str(path), "row": lineno, "field": None, "error": f"not JSON: {exc}", "raw": line.rstrip("\n")})
                continue
            if not isinstance(rec, dict) or "id" not in rec:
                quarantine.append({"file": str(path), "row": lineno, "field": "id", "error": "missing id", "raw": line.rstrip("\n")})
                continue
            text = rec.get("text")
            if not isinstance(text, str):
                quarantine.append({"file": str(path), "row": lineno, "field": "text", "error": "text must be a string", "raw": line.rstrip("\n")})
                continue
            yield rec["id"], text, size


def text_of(path: Path, item_id: str) -> str:
    """The text of the line whose id is `item_id` (compared as text); KeyError naming the file if none."""
    quarantine: list[dict] = []
    for rid, text, _ in _records(path, quarantine):
        if str(rid) == item_id:
            return text
    rows = [q["row"] for q in quarantine]
    raise KeyError(f"{path}: no line with id {item_id!r}"
                   + (f" ({len(rows)} malformed lines skipped: rows {', '.join(map(str, rows[:10]))})" if rows else ""))


def _chunks(path: Path, quarantine: list[dict], pending: deque) -> Iterator[list[str]]:
    """The texts of `CHUNK` valid lines at a time; their ids and byte count go to `pending`."""
    ids: list[object] = []
    texts: list[str] = []
    size = 0
    for rid, text, n in _records(path, quarantine):
        ids.append(rid)
        texts.append(text)
        size += n
        if len(texts) >= CHUNK:
            pending.append((ids, size))
            yield texts
            ids, texts, size = [], [], 0
    if texts:
        pending.append((ids, size))
        yield texts


def _write_quarantine(out: Path, quarantine: list[dict], report: JobReport) -> None:
    report.quarantined = len(quarantine)
    if quarantine:
        qpath = out.with_name(out.name + ".quarantine.jsonl")
        with qpath.open("w", encoding="utf-8") as q:
            for row in quarantine:
                q.write(json.dumps(row, ensure_ascii=False) + "\n")
        report.quarantine_path = qpath


def load_directory(members: Path | None) -> MemberDirectory | None:
    """A member directory from an export's `members.parquet`/`.jsonl`, or None."""
    if members is None:
        return None
    if members.is_dir():
        cand = [members / "members.parquet", members / "members.jsonl"]
        members = next((c for c in cand if c.exists()), cand[0])
    if members.suffix == ".parquet":
        table = pq.read_table(members)
    else:
        rows = [json.loads(line) for line in members.read_text(encoding="utf-8").splitlines() if line.strip()]
        table = pa.Table.from_pylist(rows)
    return MemberDirectory.from_members(table)


def find_file(inp: Path, out: Path, redactor: Redactor, workers: int = 1,
              progress: Callable[[int], None] | None = None) -> JobReport:
    """`{"id","text"}` lines → `{"id","spans":[{start,end,type,score[,member_id]}]}` lines."""
    report = JobReport()
    quarantine: list[dict] = []
    pending: deque = deque()
    with out.open("w", encoding="utf-8") as f:
        for found in parallel_map(redactor, "spans_batch", _chunks(inp, quarantine, pending), workers):
            ids, size = pending.popleft()
            report.read += len(ids)
            for rid, spans in zip(ids, found, strict=True):
                report.spans += len(spans)
                f.write(json.dumps({"id": rid, "spans": [s.to_dict() for s in spans]}, ensure_ascii=False) + "\n")
                report.written += 1
            if progress:
                progress(size)
    _write_quarantine(out, quarantine, report)
    return report


def apply_file(inp: Path, out: Path, redactor: Redactor, workers: int = 1,
               progress: Callable[[int], None] | None = None) -> JobReport:
    """`{"id","text"}` lines → `{"id","text","pii_count","dropped"}` (text null when dropped)."""
    report = JobReport()
    quarantine: list[dict] = []
    pending: deque = deque()
    batches = (pa.record_batch({"text": pa.array(texts, pa.string())}) for texts in _chunks(inp, quarantine, pending))
    with out.open("w", encoding="utf-8") as f:
        for batch in parallel_map(redactor, "redact_batch", batches, workers):
            ids, size = pending.popleft()
            report.read += len(ids)
            rows = zip(ids, *(batch.column(c).to_pylist() for c in ("text", "pii_count", "dropped")), strict=True)
            for rid, new, count, dropped in rows:
                report.spans += count
                report.dropped += dropped
                f.write(json.dumps({"id": rid, "text": new, "pii_count": count, "dropped": dropped}, ensure_ascii=False) + "\n")
                report.written += 1
            if progress:
                progress(size)
    _write_quarantine(out, quarantine, report)
    return report
