"""The ledger's tables, SQLAlchemy 2 style.

One table per kind of fact, each row carrying the client request id that made it so
retries collapse onto the original row (UNIQUE), and a global `seq` shared with the
audit chain so any write can be located in time and a snapshot can name a watermark.
Events, notices, requests and objections are append-only; the member directory is an
upsert (the export is the source of truth for profiles, history is not needed) and a
request's processing state is derived from its processing log.

Personal fields (names, handles, birth dates, non-members' contacts) are stored
sealed under a per-subject key held in `subject_keys` (see `sealing`): their columns
hold `s1:...` text, never the plain value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from consentry.ledger.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Member(Base):
    """The member directory (members and non-member data subjects)."""

    __tablename__ = "members"

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(Text)  # sealed
    handle: Mapped[str | None] = mapped_column(Text)  # sealed
    residence_country: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[str | None] = mapped_column(Text)  # sealed ISO date
    is_member: Mapped[bool | None]
    joined_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    seq: Mapped[int] = mapped_column(BigInteger)  # audit seq of the last change


class ConsentEvent(Base):
    """One consent choice as the member made it; corrections are new events."""

    __tablename__ = "consent_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    choice: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    notice_version: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime]
    client_request_id: Mapped[str] = mapped_column(String(256), unique=True)
    legal_basis: Mapped[str | None] = mapped_column(String(64))
    jurisdiction: Mapped[str | None] = mapped_column(String(16))
    receipt: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]


# The consent event is declared once, above: the audit chain hashes these columns, the
# write validation takes its length limits from them, and tests/ledger/test_event_fields.py
# checks that the frozen record, the export's Arrow schema and the API model agree.
EVENT_COLUMNS: tuple[str, ...] = tuple(ConsentEvent.__table__.columns.keys())
EVENT_LEDGER_ONLY: tuple[str, ...] = ("seq", "receipt", "recorded_at")
"""Written by the ledger itself, never by a caller (`validate.event_fields` returns the rest)."""


def text_limit(model: type[Base], column: str) -> int:
    """The declared length of one String column, so that checks before a write use the
    database's own limit rather than a copy of it."""
    length = getattr(model.__table__.c[column].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{column} has no declared length")
    return length


class Request(Base):
    """A data subject request (erasure, export); status mirrors its processing log."""

    __tablename__ = "requests"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    item_ids: Mapped[list[str] | None]
    at: Mapped[datetime]
    client_request_id: Mapped[str] = mapped_column(String(256), unique=True)
    deadline: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | processed | failed
    processed_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]
    recorded_at: Mapped[datetime]


class RequestLog(Base):
    """Each processing outcome for a request, in order; the request row follows the last."""

    __tablename__ = "request_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.request_id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any] | None]
    at: Mapped[datetime]
    client_request_id: Mapped[str] = mapped_column(String(256), unique=True)


class Notice(Base):
    """A privacy notice version delivered to a member."""

    __tablename__ = "notices"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    notice_version: Mapped[str] = mapped_column(String(128))
    delivered_at: Mapped[datetime]
    client_request_id: Mapped[str] = mapped_column(String(256), unique=True)
    recorded_at: Mapped[datetime]


class RedactionName(Base):
    """A non-member's objection: their name is redacted from training data."""

    __tablename__ = "redaction_names"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    subject_id: Mapped[str] = mapped_column(String(256), index=True)  # whose key seals name and contact
    name: Mapped[str | None] = mapped_column(Text)  # sealed; None once the subject is shredded
    contact: Mapped[str | None] = mapped_column(Text)  # sealed
    purposes: Mapped[list[str] | None]
    at: Mapped[datetime]
    client_request_id: Mapped[str] = mapped_column(String(256), unique=True)


class AuditEntry(Base):
    """One link of the hash chain: hash = sha256(prev_hash || canonical JSON of the entry)."""

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(256))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime]


class SubjectKey(Base):
    """One data subject's encryption key; `key` is NULL once shredded (erasure), and
    `seq` then names the audit link that recorded the shredding."""

    __tablename__ = "subject_keys"

    subject_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    shredded_at: Mapped[datetime | None]
    seq: Mapped[int | None] = mapped_column(BigInteger)


class AuditCheckpoint(Base):
    """A keyed checkpoint of the chain head, written by every write transaction:
    mac = HMAC-SHA256(audit key, ledger id, seq, hash). The key is kept outside the
    database, so re-linked links cannot be given valid checkpoints again."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class LedgerMeta(Base):
    """Facts about the ledger itself: its id (bound into every checkpoint MAC) and the
    seq up to which links predate keyed checkpoints."""

    __tablename__ = "ledger_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


Index("ix_consent_events_at", ConsentEvent.at)
Index("ix_audit_chain_kind_ref", AuditEntry.kind, AuditEntry.ref)


# --- privacy center tables (e19web; migration e19web_0001_center) -----------------------------
# The center keeps two small tables beside the ledger (same database, so several server
# processes share them): server-side sessions, and non-member objections awaiting an admin.
# They are not part of the audit chain: a session is not a fact about consent, and an
# objection becomes one (a `redaction_names` row) only when an admin confirms it.


class CenterSession(Base):
    """A signed-in (or pre-sign-in) browser session; the cookie holds only a random id,
    this row holds its sha256 (so a copy of the table opens no session) and its state."""

    __tablename__ = "center_sessions"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(160), index=True)  # "member:<id>", "admin", None
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CenterObjection(Base):
    """A non-member's objection held for an admin; name and contact are cleared once decided."""

    __tablename__ = "center_objections"

    objection_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | confirmed | rejected
    submitted_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    client_request_id: Mapped[str] = mapped_column(String(256), unique=True)
