"""What the ledger hands back: plain, frozen records rather than live ORM objects,
so callers (privacy center, forgetting) never hold a session or mutate a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class EventRecord:
    seq: int
    event_id: str
    member_id: str
    purpose: str
    choice: str
    source: str
    notice_version: str | None
    at: datetime
    client_request_id: str
    legal_basis: str | None
    jurisdiction: str | None
    receipt: dict[str, Any]
    recorded_at: datetime
    created: bool = True  # False when this call was a retry of an earlier write


@dataclass(frozen=True)
class RequestRecord:
    seq: int
    request_id: str
    member_id: str
    kind: str
    item_ids: list[str] | None
    at: datetime
    client_request_id: str
    deadline: datetime | None
    status: str
    processed_at: datetime | None
    result: dict[str, Any] | None
    recorded_at: datetime
    created: bool = True


@dataclass(frozen=True)
class NoticeRecord:
    seq: int
    member_id: str
    notice_version: str
    delivered_at: datetime
    client_request_id: str
    recorded_at: datetime
    created: bool = True


@dataclass(frozen=True)
class MemberRecord:
    member_id: str
    display_name: str | None
    handle: str | None
    residence_country: str | None
    birth_date: date | None
    is_member: bool | None
    joined_at: datetime | None
    closed_at: datetime | None
    seq: int


@dataclass(frozen=True)
class RedactionNameRecord:
    seq: int
    name: str | None  # None once the subject's key was shredded
    contact: str | None
    purposes: list[str] | None
    at: datetime
    client_request_id: str
    created: bool = True
    subject_id: str | None = None  # whose key seals name and contact


@dataclass(frozen=True)
class ShredResult:
    """Outcome of `Ledger.shred_subjects`: whose keys are gone, and whether the storage
    no longer holds a copy of them (SQLite: zeroed pages and an emptied WAL;
    PostgreSQL: the key table rewritten by VACUUM FULL)."""

    shredded: list[str]  # keys destroyed by this call
    already: list[str]  # shredded earlier (a rerun is a no-op)
    storage_purged: bool
    detail: str = ""


@dataclass
class BulkResult:
    """Outcome of a bulk append: every input row is inserted, a duplicate, or rejected."""

    inserted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # row, field, error

    def add(self, other: "BulkResult", row_offset: int = 0) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        for r in other.rejected:
            self.rejected.append({**r, "row": r["row"] + row_offset})

    @property
    def total(self) -> int:
        return self.inserted + self.duplicates + len(self.rejected)
