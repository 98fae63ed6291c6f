"""Everything a build reads, gathered once: the staged export, ledger events, the redactor.

The decision needs the export's tables plus what the ledger has recorded since the
export (opt-outs, objections, erasure requests, notices): we merge the ledger's
tables into the export's, deduplicated by id, so that a new build excludes anyone
who asked, whichever system the request came through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from consentry.network.schema import TABLES

LEDGER_TABLES = {"consent_events": "events_table", "requests": "requests_table", "notices": "notices_table"}
"""The ledger's reader of each table it records; the union is `policy.decide.union_sql`,
the one `consentry decide`, `explain` and the center read (keys: `LEDGER_KEYS`)."""


@dataclass
class Inputs:
    """Paths of the Parquet files the decision plan reads, one per table (view name)."""

    staged: Path
    tables: dict[str, Path]
    watermarks: dict[str, Any] = field(default_factory=dict)
    quarantined: int = 0
    ledger_position: Any = None
    quarantined_by_table: dict[str, int] = field(default_factory=dict)
    input_rows: dict[str, int] = field(default_factory=dict)
    fingerprint: str | None = None


def stage(network_dir: Path, dest: Path, progress: bool = False) -> Inputs:
    """Validate the export (streaming, bounded memory) into clean Parquet + quarantine."""
    from consentry.network import reader

    staged = reader.stage_export(Path(network_dir), dest, progress=progress)
    tables = {name: Path(p) for name, p in staged.tables.items() if name in TABLES and Path(p).exists()}
    quarantined = {k: int(v) for k, v in (staged.quarantined or {}).items()}
    return Inputs(
        Path(staged.dest), tables, _plain(staged.watermarks), sum(quarantined.values()),
        quarantined_by_table=quarantined,
        input_rows={k: int(v) for k, v in (staged.input_rows or {}).items()},
        fingerprint=getattr(staged, "fingerprint", None),
    )


def _plain(obj: Any) -> Any:
    """Watermarks as JSON-able data, whatever shape the reader returns."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def merge_ledger(inputs: Inputs, ledger: Any, work: Path) -> Inputs:
    """Union the ledger's events, requests and notices into the export's (dedup by id)."""
    if ledger is None:
        return inputs
    work.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    from consentry.policy.decide import LEDGER_KEYS, union_sql

    for name, method in LEDGER_TABLES.items():
        fn = getattr(ledger, method, None)
        if fn is None:
            continue
        extra: pa.Table = fn()
        schema = TABLES[name]
        con.register("ledger_rows", extra.select(schema.names).cast(schema))
        con.register("export_rows", pq.read_table(inputs.tables[name]).select(schema.names).cast(schema)
                     if name in inputs.tables else schema.empty_table())
        key = ", ".join(f'"{k}"' for k in LEDGER_KEYS[name])
        merged = con.sql(f"SELECT * FROM ({union_sql('export_rows', 'ledger_rows', name)}) u ORDER BY {key}"
                         ).to_arrow_table()
        out = work / f"{name}.parquet"
        pq.write_table(merged.select(schema.names).cast(schema), out)
        inputs.tables[name] = out
        con.unregister("ledger_rows")
        con.unregister("export_rows")
    con.close()
    pos = getattr(ledger, "position", None)
    inputs.ledger_position = _plain(pos() if callable(pos) else pos)
    return inputs


def redact_config(pack_version: Any, extra_names: tuple[str, ...] = ()) -> Any:
    """The pack's redaction settings as the redactor's config (defaults when no version)."""
    from consentry.redact import RedactConfig

    red = getattr(pack_version, "redaction", None)
    if red is None:
        return RedactConfig(always_redact=extra_names)
    from consentry.redact.person import operating_threshold

    mode = str(getattr(red, "mode", "mask"))
    return RedactConfig(
        types=tuple(red.pii_types),
        operator="pseudonymise" if mode == "pseudonymise" else "mask",
        max_pii_density=red.max_pii_density,
        always_redact=extra_names,
        person_threshold=operating_threshold(red.person_operating_point),
        allow_terms=tuple(red.allow_terms),
    )


def make_redactor(inputs: Inputs, pack_version: Any, key: bytes, ledger: Any = None) -> Any:
    """The redactor both engines call: the pack's redaction settings and the member directory.

    Names of non-members who objected (kept by the ledger) are always redacted.
    """
    from consentry.redact import MemberDirectory, Redactor

    if "members" in inputs.tables:
        members = pq.read_table(inputs.tables["members"])
    else:
        members = TABLES["members"].empty_table()
    extra: tuple[str, ...] = ()
    names = getattr(ledger, "redaction_names", None) if ledger is not None else None
    if names is not None:
        got = names()
        if isinstance(got, pa.Table):
            col = "name" if "name" in got.schema.names else got.schema.names[0]
            got = got.column(col).to_pylist()
        got = [getattr(n, "name", n) for n in got]
        extra = tuple(sorted({str(n) for n in got if n}))
    directory = MemberDirectory.from_members(members)
    return Redactor(redact_config(pack_version, extra), directory=directory, key=key)
