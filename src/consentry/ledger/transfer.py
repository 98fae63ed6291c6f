"""Moving the ledger to and from the platform export format.

Import is idempotent: each imported row gets a client request id derived from its
own id (`import:consent_events:<event_id>`), so importing the same export twice, or
an export the ledger itself wrote, adds nothing. Rows the export reader quarantines
or the ledger refuses are counted and named, never silently dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.ledger.types import iso
from consentry.network import schema as export_schema

if TYPE_CHECKING:
    from consentry.ledger.store import Ledger

LEDGER_TABLES = ("members", "notices", "consent_events", "requests")
BATCH = 20_000


def _read_fallback(directory: Path, name: str) -> pa.Table:
    """Read one export table with pyarrow alone (used when the network reader is absent)."""
    schema = export_schema.TABLES[name]
    pq_path, jl_path = directory / f"{name}.parquet", directory / f"{name}.jsonl"
    if pq_path.exists():
        table = pq.read_table(pq_path)
    elif jl_path.exists():
        import pyarrow.json as pj

        opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        try:
            table = pj.read_json(jl_path, parse_options=opts)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{jl_path}: {exc}") from exc
    else:
        return schema.empty_table()
    cols = []
    for f in schema:
        if f.name in table.column_names:
            try:
                cols.append(table[f.name].cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"{pq_path if pq_path.exists() else jl_path}: field {f.name}: {exc}") from exc
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.table(cols, schema=schema)


def _stream_validated(directory: Path, name: str, quarantine: list[dict[str, Any]]) -> Iterator[pa.Table] | None:
    """Clean record batches of one table through the network reader's validator (the
    same checks as staging), quarantining bad rows with file, row and field; None when
    that reader is not installed."""
    try:
        from consentry.network.reader import iter_file, table_files
        from consentry.network.validate import validate as validate_rows
    except ImportError:
        return None

    def gen() -> Iterator[pa.Table]:
        for path in table_files(directory, name):
            for rb in iter_file(path, name):
                for row, fld, err, _raw in rb.rejected:
                    quarantine.append({"table": name, "file": str(path), "row": row, "field": fld, "error": err})
                if rb.table.num_rows:
                    good, _bad, errors = validate_rows(name, rb.table)
                    for i, fld, err in errors:
                        quarantine.append({"table": name, "file": str(path), "row": int(rb.rows[i]),
                                           "field": fld, "error": err})
                    if good.num_rows:
                        yield good

    return gen()


def read_table(directory: Path, name: str, quarantine: list[dict[str, Any]]) -> Iterator[pa.Table]:
    """One ledger table of an export as clean batches in the export schema."""
    stream = _stream_validated(directory, name, quarantine)
    if stream is not None:
        return stream
    return iter(_read_fallback(directory, name).to_batches(max_chunksize=BATCH))


def _rows(batches: Iterator[Any], crid: Callable[[dict[str, Any]], str] | None,
          counter: list[int]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        for row in batch.to_pylist():
            counter[0] += 1
            if crid is not None:
                row["client_request_id"] = crid(row)
            yield row


def _crid_notice(r: dict[str, Any]) -> str:
    return f"import:notices:{r.get('member_id')}:{r.get('notice_version')}:{iso(r.get('delivered_at'))}"


def _rows_hint(directory: Path, name: str) -> int | None:
    path = directory / f"{name}.parquet"
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else None


def import_export(ledger: "Ledger", directory: Path, *, progress: bool = False) -> dict[str, Any]:
    if not directory.is_dir():
        raise FileNotFoundError(f"export directory {directory} does not exist")
    quarantine: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    steps = [
        ("members", ledger.upsert_members, None),
        ("notices", ledger.append_notices, _crid_notice),
        ("consent_events", ledger.append_events, lambda r: f"import:consent_events:{r.get('event_id')}"),
        ("requests", ledger.append_requests, lambda r: f"import:requests:{r.get('request_id')}"),
    ]
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        for name, append, crid in steps:
            before = len(quarantine)
            task = bar.add_task(f"import {name}", total=_rows_hint(directory, name))
            counter = [0]
            res = append(_rows(read_table(directory, name, quarantine), crid, counter), batch_size=BATCH,
                         progress=lambda n, t=task: bar.advance(t, n))
            report[name] = {"read": counter[0] + len(quarantine) - before, "inserted": res.inserted,
                            "duplicates": res.duplicates, "rejected": res.rejected,
                            "quarantined": len(quarantine) - before}
    report["quarantined"] = len(quarantine)
    report["quarantine"] = quarantine
    return report


def export_to(ledger: "Ledger", directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    tables = {
        "members": ledger.members_table(),
        "consent_events": ledger.events_table(),
        "requests": ledger.requests_table(),
        "notices": ledger.notices_table(),
    }
    out: dict[str, Path] = {}
    for name, table in tables.items():
        path = directory / f"{name}.parquet"
        tmp = directory / f".{name}.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        out[name] = path
    return out
