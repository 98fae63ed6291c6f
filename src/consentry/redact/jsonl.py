"""File-level jobs behind `consentry redact find|apply`: JSONL in, JSONL out.

Input lines are `{"id": ..., "text": ...}`. A line that is not JSON, not an object,
or lacks an `id` or a string `text` is not guessed at: it goes to a quarantine file
with its line number, field and error, so every input line ends in exactly one of
the output or the quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.redact.detect import find_spans
from consentry.redact.directory import MemberDirectory
from consentry.redact.redactor import Redactor

CHUNK = 2048


@dataclass
class JobReport:
    read: int = 0
    written: int = 0
    quarantined: int = 0
    spans: int = 0
    dropped: int = 0
    quarantine_path: Path | None = None


def _records(path: Path, quarantine: list[dict]) -> Iterator[tuple[object, str]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
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
            yield rec["id"], text


def _chunks(it: Iterator[tuple[object, str]]) -> Iterator[list[tuple[object, str]]]:
    buf: list[tuple[object, str]] = []
    for rec in it:
        buf.append(rec)
        if len(buf) >= CHUNK:
            yield buf
            buf = []
    if buf:
        yield buf


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


def find_file(inp: Path, out: Path, directory: MemberDirectory | None = None,
              person_threshold: float | None = None) -> JobReport:
    """`{"id","text"}` lines → `{"id","spans":[{start,end,type,score[,member_id]}]}` lines."""
    report = JobReport()
    quarantine: list[dict] = []
    with out.open("w", encoding="utf-8") as f:
        for chunk in _chunks(_records(inp, quarantine)):
            report.read += len(chunk)
            for (rid, _), spans in zip(chunk, find_spans([t for _, t in chunk], directory=directory,
                                                                 person_threshold=person_threshold)):
                report.spans += len(spans)
                f.write(json.dumps({"id": rid, "spans": [s.to_dict() for s in spans]}, ensure_ascii=False) + "\n")
                report.written += 1
    _write_quarantine(out, quarantine, report)
    return report


def apply_file(inp: Path, out: Path, redactor: Redactor) -> JobReport:
    """`{"id","text"}` lines → `{"id","text","pii_count","dropped"}` (text null when dropped)."""
    report = JobReport()
    quarantine: list[dict] = []
    with out.open("w", encoding="utf-8") as f:
        for chunk in _chunks(_records(inp, quarantine)):
            report.read += len(chunk)
            for rid, text in chunk:
                new, count, dropped = redactor.redact_text(text)
                report.spans += count
                report.dropped += dropped
                f.write(json.dumps({"id": rid, "text": new, "pii_count": count, "dropped": dropped}, ensure_ascii=False) + "\n")
                report.written += 1
    _write_quarantine(out, quarantine, report)
    return report
