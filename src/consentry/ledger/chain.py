"""Writing links of the audit chain inside one serialised write transaction.

Only one writer may hold the chain head at a time, or two writers would both link
to the same previous hash. The lock is the database's own: SQLite's BEGIN IMMEDIATE
(set on the write engine) and PostgreSQL's transaction-scoped advisory lock, both
released by commit or rollback, so a crashed writer can never leave it held.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping

from sqlalchemy import JSON, Boolean, Date, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from consentry.ledger.audit import GENESIS, canonical, link_hash, payload_hash, sha256_hex
from consentry.ledger.types import UTCDateTime, iso, to_utc
from consentry.ledger.models import (
    AuditCheckpoint,
    AuditEntry,
    EVENT_COLUMNS,
    ConsentEvent,
    Member,
    Notice,
    RedactionName,
    Request,
    RequestLog,
    SubjectKey,
)

AUDIT = AuditEntry.__table__
CHECKPOINTS = AuditCheckpoint.__table__

# What each kind of write covers in its payload hash, and which table holds it.
PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "event": EVENT_COLUMNS,  # every column of the event, as declared once in models
    "request": ("seq", "request_id", "member_id", "kind", "item_ids", "at", "client_request_id",
                "deadline", "recorded_at"),
    "request_log": ("seq", "request_id", "status", "result", "at", "client_request_id"),
    "notice": ("seq", "member_id", "notice_version", "delivered_at", "client_request_id", "recorded_at"),
    "redaction_name": ("seq", "subject_id", "name", "contact", "purposes", "at", "client_request_id"),
    "member": ("seq", "member_id", "display_name", "handle", "residence_country", "birth_date",
               "is_member", "joined_at", "closed_at"),
    "shred": ("seq", "subject_id", "shredded_at"),
}
TABLES = {
    "event": ConsentEvent.__table__,
    "request": Request.__table__,
    "request_log": RequestLog.__table__,
    "notice": Notice.__table__,
    "redaction_name": RedactionName.__table__,
    "member": Member.__table__,
}
KEYS = SubjectKey.__table__
# Links of these kinds are not rows of TABLES: a shredding is a row of subject_keys,
# and a reseal (a row re-encrypted by a migration) names the row it re-hashes as ref
# "<kind>:<seq>", its payload_sha256 being the row's new payload hash.
RESEAL = "reseal"
REF_FIELD = {
    "event": "event_id",
    "request": "request_id",
    "request_log": "request_id",
    "notice": "member_id",
    "redaction_name": "client_request_id",
    "member": "member_id",
    "shred": "subject_id",
}


def payload_of(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in PAYLOAD_FIELDS[kind]:
        v = row[f]
        if f == "receipt":  # covered by the sha256 of its canonical text (as stored)
            text = row.get("_receipt_json") or (v if isinstance(v, str) else canonical(v))
            v = sha256_hex(text)
        elif isinstance(v, datetime):
            v = iso(v)
        elif isinstance(v, date):
            v = v.isoformat()
        out[f] = v
    return out


def lock(conn: Connection) -> None:
    """Serialise chain appends on PostgreSQL (SQLite's write engine already began IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.consentry.ledger'))"))


class Chain:
    """The chain head for one write transaction; links are flushed before commit,
    followed by a keyed checkpoint of the new head when an anchor (key, ledger id)
    is given (see `anchor`)."""

    def __init__(self, conn: Connection, now: datetime, anchor: tuple[Any, str] | None = None):
        self.conn = conn
        self.now = now
        self.anchor = anchor
        self.checkpoint: dict[str, Any] | None = None
        head = conn.execute(select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)).first()
        self.seq, self.hash = (head[0], head[1]) if head else (0, GENESIS)
        self._pending: list[dict[str, Any]] = []
        self._reserved = self.seq
        self._now_iso = iso(now)

    def reserve(self) -> int:
        self._reserved += 1
        return self._reserved

    def link(self, seq: int, kind: str, row: Mapping[str, Any]) -> None:
        self.link_hashed(seq, kind, str(row[REF_FIELD[kind]])[:256], payload_hash(payload_of(kind, row)))

    def link_hashed(self, seq: int, kind: str, ref: str, ph: str) -> None:
        if seq != self.seq + 1:
            raise RuntimeError(f"audit links must be appended in order (expected {self.seq + 1}, got {seq})")
        h = link_hash(self.hash, seq, kind, ref, ph, self._now_iso)
        self._pending.append(
            {"seq": seq, "kind": kind, "ref": ref, "payload_sha256": ph, "prev_hash": self.hash, "hash": h, "at": self.now}
        )
        self.seq, self.hash = seq, h

    def flush(self) -> None:
        if not self._pending:
            return
        insert_rows(self.conn, AUDIT, self._pending)
        self._pending = []
        if self.anchor is not None:
            key, ledger_id = self.anchor
            self.checkpoint = {"seq": self.seq, "hash": self.hash, "key_id": key.key_id,
                               "mac": key.mac(ledger_id, self.seq, self.hash), "at": self.now}
            self.conn.execute(insert(CHECKPOINTS), [self.checkpoint])  # one row: cheaper than COPY


def _sqlite_value(kind: str) -> Any:
    if kind == "datetime":
        last: list[Any] = [None, None]  # one write stamps many rows with the same time

        def dt(v: Any) -> str | None:
            if v is None:
                return None
            if v is not last[0]:
                last[0], last[1] = v, to_utc(v).replace(tzinfo=None).isoformat(" ", "microseconds")
            return last[1]

        return dt
    if kind == "json":
        return lambda v: None if v is None else canonical(v)
    if kind == "date":
        return lambda v: None if v is None else v.isoformat()
    if kind == "bool":
        return lambda v: None if v is None else int(v)
    return None


def _column_kind(col: Any) -> str:
    t = col.type
    if isinstance(t, UTCDateTime):
        return "datetime"
    if isinstance(t, JSON):
        return "json"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, Boolean):
        return "bool"
    return "plain"


def insert_rows(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany of plain dict rows. On SQLite the values are converted here to the
    exact text SQLAlchemy's own types store (and read back), skipping per-row bind
    processing: a bulk import of 250,000 events pays for it twice (event + link)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_rows(conn, table, rows)
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    cols = list(table.columns)
    conv = [(c.name, _sqlite_value(_column_kind(c))) for c in cols]
    sql = f'INSERT INTO {table.name} ({", ".join(c.name for c in cols)}) VALUES ({", ".join("?" * len(cols))})'
    params = []
    for r in rows:
        vals = []
        for name, fn in conv:
            if name == "receipt" and "_receipt_json" in r:
                vals.append(r["_receipt_json"])
            else:
                v = r.get(name)
                vals.append(fn(v) if fn is not None else v)
        params.append(tuple(vals))
    conn.exec_driver_sql(sql, params)


def _copy_rows(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL bulk path: COPY ... FROM STDIN inside the current transaction (psycopg),
    with JSON written as the same canonical text the engine's serializer writes."""
    cols = list(table.columns)
    json_cols = {c.name for c in cols if isinstance(c.type, JSON)}
    names = [c.name for c in cols]
    import psycopg

    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    statement = f'COPY {table.name} ({", ".join(names)}) FROM STDIN'
    try:
        _copy(cursor, statement, names, json_cols, rows)
    except psycopg.IntegrityError as exc:  # same contract as an INSERT through SQLAlchemy
        raise IntegrityError(statement, None, exc) from exc


def _copy(cursor: Any, statement: str, names: list[str], json_cols: set[str], rows: list[dict[str, Any]]) -> None:
    with cursor.copy(statement) as copy:
        for r in rows:
            vals = []
            for name in names:
                if name == "receipt" and "_receipt_json" in r:
                    vals.append(r["_receipt_json"])
                elif name in json_cols:
                    v = r.get(name)
                    vals.append(None if v is None else canonical(v))
                else:
                    vals.append(r.get(name))
            copy.write_row(vals)
