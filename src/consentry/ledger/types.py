"""Column types that read back the same on SQLite and PostgreSQL.

The audit chain hashes canonical JSON of what was written and re-hashes what is read
back, so a timestamp must come back exactly as it went in on every backend: always
timezone-aware UTC with microseconds (SQLite stores naive text, PostgreSQL timestamptz).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

UTC = timezone.utc


def to_utc(value: datetime | date | str | None) -> datetime | None:
    """Parse an ISO string or datetime into aware UTC; a naive value is taken as UTC.

    The export contract says every timestamp is UTC, so a naive one is read that way
    rather than in the local zone of whichever machine runs the import.
    """
    if value is None:
        return None
    if type(value) is datetime:  # the hot path: reading rows back
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO 8601 string, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """The one canonical text form of a timestamp used in hashes and receipts."""
    if value is None:
        return None
    return to_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # type: ignore[union-attr]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    On SQLite the text form is written and parsed here directly (the same
    "YYYY-MM-DD HH:MM:SS.ffffff" SQLAlchemy's DATETIME uses), which keeps bulk
    imports of hundreds of thousands of rows cheap.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: Any) -> str | None:
            dt = to_utc(value)
            return None if dt is None else dt.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            return datetime.fromisoformat(value).replace(tzinfo=UTC)

        return process

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        return to_utc(value)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return to_utc(value)
