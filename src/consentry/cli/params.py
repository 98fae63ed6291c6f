"""Option callbacks shared by the commands: a value is checked where it is parsed.

Why: the same option (`--as-of`, `--pack`, `--purpose`, `--url`, ...) appears in
several commands, and a bad value must be refused before any work starts, with one
line naming the option, the value and what is accepted (Click prefixes "Invalid
value for '--as-of'"). Each callback returns the value unchanged, so the commands
keep their types. Imports stay inside the callbacks: the CLI starts fast.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Literal

import typer

from consentry.vocab import PersonPoint, Purpose

# Closed sets: annotate an option with one of these and Click shows the values in
# --help and refuses any other with the list of accepted ones. `Purpose` and
# `PersonPoint` come from the vocabulary (one declaration); the two below are the CLI's.
Engine = Literal["duckdb", "spark"]
NetworkFormat = Literal["parquet", "jsonl"]
RedactOperator = Literal["mask", "pseudonymise"]  # RedactConfig.operator's (a test keeps them equal)
__all__ = ["Engine", "NetworkFormat", "PersonPoint", "Purpose", "RedactOperator"]

DECISION_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}
TIME_EXAMPLES = "an ISO 8601 date or time, e.g. 2025-01-01, 2025-01-01T12:00:00Z or 2025-01-01T12:00:00+02:00"


def as_of(value: str | None) -> str | None:
    """An ISO 8601 date or time (UTC when it has no offset)."""
    if value is None:
        return None
    from consentry.policy.packs import as_utc

    try:
        as_utc(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise typer.BadParameter(f"{value!r} is not a date or time ({exc}); give {TIME_EXAMPLES}") from None
    return value


def plain(value: Enum | str | None) -> str | None:
    """A choice as its plain string: Click has already refused anything outside the set
    (`Purpose` or `PersonPoint` annotation); the commands and the code below them take strings."""
    return value.value if isinstance(value, Enum) else value


def pack(value: str | Path | None) -> str | Path | None:
    """A shipped pack's name or a pack YAML file (the pack itself is checked when loaded)."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir() or str(value).strip() == "":
        from consentry.policy.packs import list_packs

        what = f"{value} is a directory" if str(value).strip() else "empty"
        raise typer.BadParameter(f"{what}; give a pack name ({', '.join(list_packs())}) or a pack YAML file")
    if path.is_file():
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise typer.BadParameter(f"{value}: not UTF-8 text (byte {exc.start}); a pack is a UTF-8 YAML file") from None
        except OSError as exc:
            raise typer.BadParameter(f"{value}: cannot be read ({exc.strerror})") from None
    return value


def export_dir(value: Path | None) -> Path | None:
    """An export directory that exists (what it holds is checked when it is staged)."""
    if value is not None and not value.is_dir():
        why = "is not a directory" if value.exists() else "does not exist"
        raise typer.BadParameter(f"{value} {why}; give an export directory (NAME.parquet, NAME.jsonl or NAME/ "
                                 "per table)")
    return value


def ledger_export_dir(value: Path | None) -> Path | None:
    """An export directory holding at least one table the ledger imports (an empty one is no export)."""
    if export_dir(value) is None:
        return None
    from consentry.network.reader import table_files

    tables = ("members", "notices", "consent_events", "requests")
    files = [f for t in tables for f in table_files(value, t)]
    if not files:
        raise typer.BadParameter(f"{value} holds none of the tables the ledger imports ({', '.join(tables)}: "
                                 "NAME.parquet, NAME.jsonl or NAME/)")
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:  # a damaged file is named before anything is imported (rows are checked on import)
        if f.suffix == ".parquet":
            try:
                pq.ParquetFile(f).close()
            except (pa.ArrowException, OSError) as exc:
                raise typer.BadParameter(f"{f}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    return value


def existing_dir(value: Path | None) -> Path | None:
    """A directory to read from: it must exist (reading a missing one is no result)."""
    if value is not None and not value.is_dir():
        why = "is not a directory" if value.exists() else "does not exist"
        raise typer.BadParameter(f"{value} {why}")
    return value


def decisions_out(value: Path | None) -> Path | None:
    """A decisions file whose extension names a format we write."""
    if value is not None and value.suffix.lower() not in DECISION_FORMATS:
        raise typer.BadParameter(f"{value}: {value.suffix or 'no extension'} is not a format decide writes; "
                                 f"use {', '.join(DECISION_FORMATS)}")
    if value is not None and value.is_dir():
        raise typer.BadParameter(f"{value} is a directory; give a file name ending in {', '.join(DECISION_FORMATS)}")
    return value


def ledger_url(value: str | None) -> str | None:
    """A SQLAlchemy URL of a SQLite or PostgreSQL ledger."""
    if value is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from consentry.cli.errors import LEDGER_URLS

    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise typer.BadParameter(f"{value!r} is not a database URL; give {LEDGER_URLS}") from None
    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter(f"{value!r}: {backend} is not a ledger database; give {LEDGER_URLS}")
    return value


def ledger_must_exist(url: str) -> None:
    """Refuse to read a SQLite ledger whose file does not exist: opening it would create it empty."""
    from sqlalchemy.engine import make_url

    from consentry.errors import NotFound

    parsed = make_url(url)
    db = parsed.database
    local = parsed.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:")
    if local and not Path(db).expanduser().is_file():
        raise NotFound(f"no ledger at {url}: {db} does not exist; run `consentry ledger init` or "
                       "`consentry ledger import DIR` first, or give --url")
