"""Write small exports with chosen rows broken, as Parquet or JSONL."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.network import schema


def iso(v):
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, date):
        return v.isoformat()
    return v


def loose_schema(name: str) -> pa.Schema:
    """The table's schema with dates and timestamps as strings (so a bad date can be written)."""
    return pa.schema([pa.field(f.name, pa.string() if (pa.types.is_timestamp(f.type) or pa.types.is_date(f.type))
                               else f.type) for f in schema.TABLES[name]])


def rows_of(src: Path, name: str) -> list[dict]:
    return [{k: iso(v) for k, v in r.items()} for r in pq.read_table(src / f"{name}.parquet").to_pylist()]


def write_table(dest: Path, name: str, rows: list[dict], fmt: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path = dest / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path = dest / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=loose_schema(name)), path)
    return path


def copy_export(src: Path, dest: Path, fmt: str, edits: dict[str, list[dict]] | None = None) -> Path:
    """Every table of `src` into `dest` in `fmt`, with `edits[name]` replacing a table's rows."""
    edits = edits or {}
    for name in schema.EXPORT_TABLES:
        rows = edits.get(name)
        write_table(dest, name, rows if rows is not None else rows_of(src, name), fmt)
    return dest
