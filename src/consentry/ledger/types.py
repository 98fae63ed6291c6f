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
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # type: ignore[union-attr]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        dt = to_utc(value)
        if dt is not None and dialect.name == "sqlite":
            return dt.replace(tzinfo=None)
        return dt

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return to_utc(value)
