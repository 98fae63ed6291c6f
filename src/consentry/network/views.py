"""DuckDB views over a staged export, so SQL plans name tables, not files.

The decision plan is written against `members, items, signins, consent_events,
requests, notices, jobs, job_interactions`; registering views over the staged
Parquet (always present, empty when the export lacked a table) lets DuckDB push
filters and projections into the Parquet scan instead of loading tables.
"""

from __future__ import annotations

from pathlib import Path

from consentry.network import schema
from consentry.network.reader import ExportError


def _lit(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def register(con, staged_dir: str | Path) -> list[str]:
    """Create (or replace) one view per export table on `con`; returns the view names."""
    staged_dir = Path(staged_dir)
    names = []
    for name, sch in schema.TABLES.items():
        path = staged_dir / f"{name}.parquet"
        if not path.is_file():
            raise ExportError(f"{staged_dir}: {name}.parquet missing; stage the export first")
        cols = ", ".join('"' + f.name.replace('"', '""') + '"' for f in sch)
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {cols} FROM read_parquet({_lit(path)})')
        names.append(name)
    return names
