"""The consent ledger: the system of record for consent events, requests, notices,
the member directory and non-member objections, with an audit chain over every write.

Every write carries a client request id; the UNIQUE constraint on it is what makes
retries safe (a retry returns the original record; a retry asking for something
else raises `IdempotencyConflict`), and all writes go through one serialised
transaction per batch that also appends the audit links and a keyed checkpoint
(`anchor`). Personal fields are sealed per subject (`sealing`); `shred_subject`
destroys a subject's key on erasure, and every reader then returns None for them.
Readers return Arrow tables in the platform export schemas so the decision plan
reads the ledger exactly like an export. SQLite file by default, PostgreSQL by URL.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import fields as dc_fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pyarrow as pa
from sqlalchemy import Engine, bindparam, create_engine, event, func, or_, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError

from consentry.ledger import anchor, migrate, sealing, validate
from consentry.ledger.audit import GENESIS, AuditReport, canonical
from consentry.ledger.chain import CHECKPOINTS, KEYS, PAYLOAD_FIELDS, TABLES, Chain, insert_rows, lock
from consentry.ledger.models import (
    AuditEntry,
    ConsentEvent,
    LedgerMeta,
    Member,
    Notice,
    RedactionName,
    Request,
    RequestLog,
)
from consentry.ledger.receipts import DEFAULT_CONTROLLER, receipt_json
from consentry.ledger.records import (
    BulkResult,
    EventRecord,
    MemberRecord,
    NoticeRecord,
    RedactionNameRecord,
    RequestRecord,
    ShredResult,
)
from consentry.ledger.types import UTC, iso, to_utc
from consentry.network import schema as export_schema

EVENTS = ConsentEvent.__table__
REQUESTS = Request.__table__
REQUEST_LOG = RequestLog.__table__
NOTICES = Notice.__table__
MEMBERS = Member.__table__
NAMES = RedactionName.__table__
AUDIT = AuditEntry.__table__
META = LedgerMeta.__table__

CHUNK = 900  # ids per IN (...) list: below every backend's bind-parameter limit
STATUSES = ("processed", "failed", "refused")  # refused: closed unanswered, with a reason


class LedgerConflict(ValueError):
    """A write whose id is already recorded with different content under another request id."""


class IdempotencyConflict(LedgerConflict):
    """A retry whose client_request_id is already recorded for a different write.

    `recorded` is the record that id stands for, `fields` the fields that differ.
    A retry is judged by what it asks for (who, what, which choice), not by when it
    was sent: timestamps stamped by the caller on arrival are not compared."""

    def __init__(self, kind: str, client_request_id: str, recorded: Any, fields: Sequence[str]):
        self.kind = kind
        self.client_request_id = client_request_id
        self.recorded = recorded
        self.fields = tuple(fields)
        super().__init__(f"client_request_id {client_request_id!r} is already recorded for a different {kind} "
                         f"({', '.join(self.fields)} differ); recorded at seq {getattr(recorded, 'seq', '?')}")


def _sqlite_engine(url: str, begin: str) -> Engine:
    """A pysqlite engine whose transactions start with `begin` (SQLAlchemy's documented
    recipe: take transaction control away from the driver)."""
    engine = create_engine(url, connect_args={"timeout": 120, "check_same_thread": False},
                           json_serializer=canonical)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed: a shredded key leaves no copy
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _chunks(seq: Sequence[Any], n: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Ledger:
    """The system of record. `Ledger(url).create()` once, then append and read."""

    def __init__(self, url: str | None = None, *, controller: Mapping[str, Any] | None = None,
                 keys_dir: str | Path | None = None):
        if url is None:
            from consentry.settings import Settings

            url = Settings().ledger
        self.url = url
        # where the audit key and head file live (outside the database; see `anchor`)
        self.keys_dir = Path(keys_dir) if keys_dir is not None else anchor.keys_dir()
        self._anchor: tuple[anchor.AuditKey, str] | None = None
        self.controller = dict(controller or DEFAULT_CONTROLLER)
        self._controller_json = canonical(self.controller)
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            db = parsed.database
            if db and db != ":memory:" and not db.startswith("file:"):
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._wengine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self._rengine = _sqlite_engine(url, "BEGIN") if db and db != ":memory:" else self._wengine
        else:
            # No server-side prepared statements: a generic plan cannot hash the long
            # `IN (...)` lists of the duplicate checks and turns them into linear scans.
            args = {"prepare_threshold": None} if self.dialect == "postgresql" and "psycopg" in parsed.drivername else {}
            self._wengine = self._rengine = create_engine(url, pool_recycle=1800, json_serializer=canonical,
                                                          connect_args=args)

    def __repr__(self) -> str:
        return f"Ledger({make_url(self.url).render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self._wengine.dispose()
        self._rengine.dispose()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- plumbing
    def create(self) -> "Ledger":
        """Create or upgrade the schema (Alembic `upgrade head`, programmatic). An upgrade
        that sealed plain text already stored is followed by a purge of the old copies."""
        with self._wengine.begin() as conn:
            lock(conn)
            before = migrate.current_revision(conn)
            migrate.upgrade(conn)
            after = migrate.current_revision(conn)
        if before is not None and before != after:
            self._purge_old_copies()
        return self

    def schema_revision(self) -> str | None:
        with self._rengine.connect() as conn:
            return migrate.current_revision(conn)

    def _anchor_for(self, conn: Connection) -> tuple[anchor.AuditKey, str]:
        """(audit key, ledger id), loaded once. A new key is made only for a ledger that
        has no checkpoints yet: a checkpointed chain is never continued under another key."""
        if self._anchor is None:
            ledger_id = conn.execute(select(META.c.value).where(META.c.name == "ledger_id")).scalar()
            if ledger_id is None:
                raise anchor.AuditKeyError("ledger_meta has no ledger_id: the ledger's checkpoints cannot be "
                                           "continued (was the table edited?)")
            key = anchor.load_key(self.keys_dir)
            if key is None:
                if conn.execute(select(CHECKPOINTS.c.seq).limit(1)).first() is not None:
                    raise anchor.AuditKeyError(
                        f"this ledger's audit chain is checkpointed, but its audit key is neither in "
                        f"${anchor.ENV} nor at {self.keys_dir / anchor.KEY_FILE}: restore the key")
                key = anchor.load_key(self.keys_dir, create=True)
            assert key is not None
            self._anchor = (key, ledger_id)
        return self._anchor

    @contextmanager
    def _write(self) -> Iterator[Chain]:
        with self._wengine.begin() as conn:
            lock(conn)
            chain = Chain(conn, datetime.now(UTC), self._anchor_for(conn))
            yield chain
            chain.flush()
        if chain.checkpoint is not None:  # after commit: the file never runs ahead of the database
            cp = chain.checkpoint
            anchor.write_head(self.keys_dir, chain.anchor[1],  # type: ignore[index]
                              {"seq": cp["seq"], "hash": cp["hash"], "key_id": cp["key_id"], "mac": cp["mac"]})

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._rengine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    def _existing(conn: Connection, column: Any, values: Sequence[Any], *extra: Any) -> dict[Any, Any]:
        """value -> row for those of `values` already present in `column`."""
        out: dict[Any, Any] = {}
        uniq = list(dict.fromkeys(v for v in values if v is not None))
        for part in _chunks(uniq):
            for row in conn.execute(select(column, *extra).where(column.in_(part))):
                out[row[0]] = row
        return out

    # ---------------------------------------------------------------- append-only writes
    # What makes two writes with the same id the same (id conflicts, imports included).
    _SAME = {
        "event": ("member_id", "purpose", "choice", "source", "notice_version", "at"),
        "request": ("member_id", "kind", "item_ids", "at"),
    }
    _ID = {"event": "event_id", "request": "request_id"}
    # What a retry under the same client_request_id must ask for again; the fields of
    # _GIVEN are compared only when the caller gave them (else they were derived).
    _BODY = {
        "event": ("member_id", "purpose", "choice", "source", "notice_version", "jurisdiction"),
        "request": ("member_id", "kind", "item_ids"),
        "notice": ("member_id", "notice_version"),
        "redaction_name": ("name", "contact", "purposes"),
    }
    _GIVEN = {
        "event": ("event_id", "legal_basis"),
        "request": ("request_id",),
        "notice": (),
        "redaction_name": ("subject_id",),
    }

    @classmethod
    def _differs(cls, kind: str, prior: Mapping[str, Any], row: Mapping[str, Any]) -> list[str]:
        """The fields in which `row` asks for something else than the recorded `prior`."""
        fields = cls._BODY[kind] + row.get("_given", ())  # no timestamps here: plain equality
        return [f for f in fields if prior[f] != row[f]]

    def _known(self, conn: Connection, kind: str, rows: list[tuple[int, dict[str, Any]]]
               ) -> tuple[dict[str, Any], dict[str, Any]]:
        """client_request_id -> recorded row, and id -> recorded row, for those of `rows`
        already in the ledger (one query per chunk; sealed fields opened)."""
        table = TABLES[kind]
        id_field = self._ID.get(kind)
        crids = list(dict.fromkeys(r["client_request_id"] for _, r in rows))
        ids = list(dict.fromkeys(r[id_field] for _, r in rows)) if id_field else []
        known: dict[str, Any] = {}
        known_ids: dict[str, Any] = {}
        names = ["client_request_id", *([id_field] if id_field else []),
                 *dict.fromkeys(self._SAME.get(kind, ()) + self._BODY[kind] + self._GIVEN[kind])]
        if kind == "redaction_name":
            names.append("subject_id")
        cols = [table.c[n] for n in dict.fromkeys(names)]
        found = []
        for i in range(0, max(len(crids), len(ids)), CHUNK):
            cond = table.c.client_request_id.in_(crids[i : i + CHUNK])
            if id_field:
                cond = or_(cond, table.c[id_field].in_(ids[i : i + CHUNK]))
            found += [r._mapping for r in conn.execute(select(*cols).where(cond))]
        if kind in SEALED_KINDS and found:
            keys = sealing.load(conn, [r["subject_id"] for r in found])
            found = [keys.open_row(SEALED_KINDS[kind], r["subject_id"], r) for r in found]
        for row in found:
            known[row["client_request_id"]] = row
            if id_field:
                known_ids[row[id_field]] = row
        return known, known_ids

    def _append_many(self, kind: str, rows: list[tuple[int, dict[str, Any]]], result: BulkResult
                     ) -> list[dict[str, Any]]:
        """Insert validated rows of one kind, skipping retries, in one locked transaction;
        returns the rows written. A retry asking for something else is rejected on the
        field client_request_id (its error names the fields that differ)."""
        table = TABLES[kind]
        id_field = self._ID.get(kind)
        with self._write() as chain:
            conn = chain.conn
            known, known_ids = self._known(conn, kind, rows)
            seen: dict[str, dict[str, Any]] = {}
            seen_ids: set[str] = set()
            out: list[dict[str, Any]] = []
            for idx, row in rows:
                crid = row["client_request_id"]
                prior = known.get(crid) or seen.get(crid)
                if prior is not None:
                    diff = self._differs(kind, prior, row)
                    if diff:
                        result.rejected.append(
                            {"row": idx, "field": "client_request_id", "differs": diff,
                             "error": f"client_request_id {crid!r} is already recorded for a different {kind} "
                                      f"({', '.join(diff)} differ)"})
                    else:
                        result.duplicates += 1
                    continue
                if id_field:
                    rid = row[id_field]
                    if rid in seen_ids:
                        result.duplicates += 1
                        continue
                    if rid in known_ids:
                        prior = known_ids[rid]
                        if all(_same(prior[c], row[c]) for c in self._SAME[kind]):
                            result.duplicates += 1
                        else:
                            result.rejected.append(
                                {"row": idx, "field": id_field,
                                 "error": f"{id_field} {rid!r} is already recorded with different content"}
                            )
                        continue
                    seen_ids.add(rid)
                seen[crid] = row
                row = dict(row)
                row["seq"] = chain.reserve()
                self._complete(kind, row, chain.now)
                out.append(row)
            if kind in SEALED_KINDS and out:  # seal before linking: the chain covers the ciphertext
                keys = sealing.ensure(conn, [r["subject_id"] for r in out], chain.now)
                out = [keys.seal_row(SEALED_KINDS[kind], r["subject_id"], r) for r in out]
            for row in out:
                chain.link(row["seq"], kind, row)
            insert_rows(conn, table, out)
            result.inserted += len(out)
        return out

    def _complete(self, kind: str, row: dict[str, Any], now: datetime) -> None:
        if kind in ("event", "request", "notice"):
            row["recorded_at"] = now
        if kind == "event":
            row["_receipt_json"] = receipt_json(row, self._controller_json, iso(now))
            row["receipt"] = None  # stored as the text above; parsed only when a record is returned
        elif kind == "request":
            row.update(status="pending", processed_at=None, result=None)

    def _bulk(self, kind: str, rows: Iterable[Mapping[str, Any]], fields: Any, batch_size: int,
              progress: Any = None) -> BulkResult:
        result = BulkResult()
        batch: list[tuple[int, dict[str, Any]]] = []
        for idx, raw in enumerate(rows):
            try:
                batch.append((idx, _given(kind, fields(raw), raw)))
            except validate.FieldError as exc:
                result.rejected.append({"row": idx, "field": exc.field, "error": exc.message})
            if len(batch) >= batch_size:
                self._append_many(kind, batch, result)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            self._append_many(kind, batch, result)
            if progress:
                progress(len(batch))
        return result

    _RECORD = {"event": EventRecord, "request": RequestRecord, "notice": NoticeRecord,
               "redaction_name": RedactionNameRecord}

    def _one(self, kind: str, row: dict[str, Any], reread: Any) -> Any:
        result = BulkResult()
        crid = row["client_request_id"]
        try:
            written = self._append_many(kind, [(0, row)], result)
        except IntegrityError:
            # A concurrent writer recorded the same client request id first: the
            # UNIQUE constraint is the final arbiter, the original record the answer.
            rec = reread(crid)
            if rec is None:
                raise
            diff = self._differs(kind, vars(rec), row)
            if diff:
                raise IdempotencyConflict(kind, crid, rec, diff) from None
            return replace(rec, created=False)
        if result.rejected:
            err = result.rejected[0]
            if err["field"] == "client_request_id":
                raise IdempotencyConflict(kind, crid, reread(crid), err["differs"])
            raise LedgerConflict(err["error"])
        if written:
            if kind == "redaction_name":  # the written row is sealed: read it back opened
                return reread(crid)
            record_type = self._RECORD[kind]
            row = written[0]
            if kind == "event":
                row = {**row, "receipt": json.loads(row["_receipt_json"])}
            return record_type(**{f.name: row[f.name] for f in dc_fields(record_type) if f.name != "created"})
        rec = reread(crid)
        if rec is None:  # the same event/request already recorded under another request id
            rec = {"event": self.event, "request": self.request}[kind](row[self._ID[kind]])
        return replace(rec, created=False)

    def append_event(
        self,
        member_id: str,
        purpose: str,
        choice: str,
        source: str,
        at: datetime | str,
        notice_version: str | None = None,
        *,
        client_request_id: str,
        jurisdiction: str | None = None,
        legal_basis: str | None = None,
        event_id: str | None = None,
    ) -> EventRecord:
        """Record one consent choice. A retry with the same client_request_id returns
        the original record (created=False) and writes nothing; a retry asking for a
        different choice (member, purpose, choice, source, notice version, jurisdiction,
        and event id or legal basis when given) raises IdempotencyConflict."""
        raw = dict(member_id=member_id, purpose=purpose, choice=choice, source=source, at=at,
                   notice_version=notice_version, client_request_id=client_request_id,
                   jurisdiction=jurisdiction, legal_basis=legal_basis, event_id=event_id)
        return self._one("event", _given("event", validate.event_fields(raw), raw), self._event_by_crid)

    def append_events(self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000,
                      progress: Any = None) -> BulkResult:
        """Bulk, idempotent append (mappings with append_event's fields, `event_id` optional)."""
        return self._bulk("event", rows, validate.event_fields, batch_size, progress)

    def append_request(
        self,
        member_id: str,
        kind: str,
        at: datetime | str,
        item_ids: Sequence[str] | None = None,
        *,
        client_request_id: str,
        request_id: str | None = None,
        deadline: datetime | str | None = None,
    ) -> RequestRecord:
        """Record a data subject request (pending until `mark_processed`); a retry under
        the same client_request_id for another member, kind or items raises IdempotencyConflict."""
        raw = dict(member_id=member_id, kind=kind, at=at, item_ids=item_ids,
                   client_request_id=client_request_id, request_id=request_id, deadline=deadline)
        return self._one("request", _given("request", validate.request_fields(raw), raw), self._request_by_crid)

    def append_requests(self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000,
                        progress: Any = None) -> BulkResult:
        return self._bulk("request", rows, validate.request_fields, batch_size, progress)

    def append_notice(self, member_id: str, notice_version: str, delivered_at: datetime | str, *,
                      client_request_id: str) -> NoticeRecord:
        """Record that a notice version was delivered to a member."""
        row = validate.notice_fields(
            dict(member_id=member_id, notice_version=notice_version, delivered_at=delivered_at,
                 client_request_id=client_request_id)
        )
        return self._one("notice", row, self._notice_by_crid)

    def append_notices(self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000,
                       progress: Any = None) -> BulkResult:
        return self._bulk("notice", rows, validate.notice_fields, batch_size, progress)

    def add_redaction_name(self, name: str, contact: str | None = None, *, client_request_id: str,
                           purposes: Sequence[str] | None = None, at: datetime | str | None = None,
                           subject_id: str | None = None) -> RedactionNameRecord:
        """Record a non-member's objection: their name is to be redacted from training data.

        Name and contact are sealed under the key of `subject_id` (by default one subject
        per objection, derived from the client request id); `shred_subject(subject_id)`
        erases them."""
        raw = dict(name=name, contact=contact, purposes=purposes, at=at or datetime.now(UTC),
                   client_request_id=client_request_id, subject_id=subject_id)
        row = _given("redaction_name", validate.redaction_fields(raw), raw)
        return self._one("redaction_name", row, self._name_by_crid)

    def mark_processed(self, request_id: str, result: Mapping[str, Any], client_request_id: str, *,
                       status: str = "processed", at: datetime | str | None = None) -> RequestRecord:
        """Record a processing outcome for a request (appended to its log; the request's
        status follows the latest entry). A retry with the same client_request_id is a no-op."""
        if status not in STATUSES:
            raise validate.FieldError("status", f"must be one of {STATUSES}, got {status!r}")
        normal = json.loads(canonical(dict(result)))
        when = to_utc(at) if at is not None else None
        try:
            with self._write() as chain:
                conn = chain.conn
                if conn.execute(select(REQUEST_LOG.c.seq).where(
                        REQUEST_LOG.c.client_request_id == client_request_id)).first() is None:
                    if conn.execute(select(REQUESTS.c.seq).where(REQUESTS.c.request_id == request_id)).first() is None:
                        raise KeyError(f"no request {request_id!r} in the ledger")
                    row = {"seq": chain.reserve(), "request_id": request_id, "status": status, "result": normal,
                           "at": when or chain.now, "client_request_id": client_request_id}
                    chain.link(row["seq"], "request_log", row)
                    insert_rows(conn, REQUEST_LOG, [row])
                    conn.execute(update(REQUESTS).where(REQUESTS.c.request_id == request_id)
                                 .values(status=status, processed_at=row["at"], result=normal))
        except IntegrityError:
            pass  # a concurrent retry recorded it first; the state below is the answer
        rec = self.request(request_id)
        assert rec is not None
        return rec

    # ---------------------------------------------------------------- erasure (crypto-shredding)
    def shred_subject(self, subject_id: str) -> ShredResult:
        """Destroy one data subject's key (a member id, or a non-member objection's
        subject_id): see `shred_subjects`."""
        return self.shred_subjects([subject_id])

    def shred_subjects(self, subject_ids: Iterable[str]) -> ShredResult:
        """Erase subjects' personal fields from the ledger by destroying their keys.

        Each shredding is an audit link ("shred"); the sealed values stay, covered by
        the chain, and read as None from now on. A subject that has no key yet gets a
        shredded one, so personal data arriving later (a re-import) is not stored.
        Idempotent: a rerun after a crash finishes the work. Afterwards the storage is
        purged of old copies of the keys (see ShredResult.storage_purged)."""
        ids = list(dict.fromkeys(subject_ids))
        done: list[str] = []
        already: list[str] = []
        with self._write() as chain:
            conn = chain.conn
            keys = sealing.load(conn, ids)
            for sid in ids:
                if keys.shredded(sid):
                    already.append(sid)
                    continue
                row = {"seq": chain.reserve(), "subject_id": sid, "shredded_at": chain.now}
                chain.link(row["seq"], "shred", row)
                if sid in keys:
                    conn.execute(update(KEYS).where(KEYS.c.subject_id == sid)
                                 .values(key=None, shredded_at=row["shredded_at"], seq=row["seq"]))
                else:
                    insert_rows(conn, KEYS, [{**row, "key": None, "created_at": chain.now}])
                done.append(sid)
        purged, detail = self._purge_old_copies() if done or already else (True, "")
        return ShredResult(shredded=done, already=already, storage_purged=purged, detail=detail)

    def _purge_old_copies(self) -> tuple[bool, str]:
        """Make destroyed keys unrecoverable from the database's own files. SQLite zeroes
        freed cells (secure_delete) and a TRUNCATE checkpoint empties the WAL, which
        still holds earlier page images; PostgreSQL rewrites the key table (VACUUM
        FULL), dropping the dead row versions that held the keys."""
        if self.dialect == "sqlite":
            raw = self._wengine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
            try:
                busy, _log, _done = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                raw.close()
            if busy:
                return False, "SQLite WAL not emptied: a reader held it; run `PRAGMA wal_checkpoint(TRUNCATE)` again"
            return True, "sqlite: freed pages zeroed, WAL truncated"
        if self.dialect == "postgresql":
            with self._wengine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM FULL {KEYS.name}")
            return True, "postgresql: subject_keys rewritten (VACUUM FULL)"
        return False, f"no storage purge for {self.dialect}: dead row versions may hold keys until vacuumed"

    # ---------------------------------------------------------------- member directory (upsert)
    def upsert_member(self, member_id: str, **fields: Any) -> MemberRecord:
        """Insert or replace one member's directory row (whole row; history not kept,
        every change is still an audit link)."""
        self.upsert_members([{"member_id": member_id, **fields}])
        rec = self.member(member_id)
        assert rec is not None
        return rec

    def upsert_members(self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000,
                       progress: Any = None) -> BulkResult:
        """Bulk upsert; an unchanged row is counted as a duplicate and writes nothing."""
        result = BulkResult()
        batch: list[tuple[int, dict[str, Any]]] = []
        for idx, raw in enumerate(rows):
            try:
                batch.append((idx, validate.member_fields(raw)))
            except validate.FieldError as exc:
                result.rejected.append({"row": idx, "field": exc.field, "error": exc.message})
            if len(batch) >= batch_size:
                self._upsert_batch(batch, result)
                progress and progress(len(batch))
                batch = []
        if batch:
            self._upsert_batch(batch, result)
            progress and progress(len(batch))
        return result

    def _upsert_batch(self, rows: list[tuple[int, dict[str, Any]]], result: BulkResult) -> None:
        fields = [f for f in PAYLOAD_FIELDS["member"] if f != "seq"]
        personal = sealing.SEALED["members"]
        with self._write() as chain:
            conn = chain.conn
            keys = sealing.ensure(conn, [r["member_id"] for _, r in rows], chain.now)
            current = {
                mid: keys.open_row("members", mid, {f: r._mapping[f] for f in fields})
                for mid, r in self._existing(conn, MEMBERS.c.member_id, [r["member_id"] for _, r in rows],
                                             *[MEMBERS.c[f] for f in fields]).items()
            }
            in_db = set(current)
            inserts: dict[str, dict[str, Any]] = {}
            updates: dict[str, dict[str, Any]] = {}
            for _, row in rows:
                mid = row["member_id"]
                if keys.shredded(mid):  # erased: the ledger does not learn their personal data again
                    row = {**row, **dict.fromkeys(personal)}
                if current.get(mid) == row:
                    result.duplicates += 1
                    continue
                current[mid] = row
                full = {**keys.seal_row("members", mid, row), "seq": chain.reserve()}
                chain.link(full["seq"], "member", full)
                (updates if mid in in_db else inserts)[mid] = full
                result.inserted += 1
            insert_rows(conn, MEMBERS, list(inserts.values()))
            if updates:
                stmt = (update(MEMBERS).where(MEMBERS.c.member_id == bindparam("b_member_id"))
                        .values({c: bindparam(c) for c in fields if c != "member_id"} | {"seq": bindparam("seq")}))
                conn.execute(stmt, [{**r, "b_member_id": r["member_id"]} for r in updates.values()])

    # ---------------------------------------------------------------- readers
    def _rows(self, stmt: Any) -> list[Any]:
        with self._read() as conn:
            return list(conn.execute(stmt))

    def _event_by_crid(self, crid: str) -> EventRecord | None:
        rows = self._rows(select(EVENTS).where(EVENTS.c.client_request_id == crid))
        return EventRecord(**rows[0]._mapping) if rows else None

    def _request_by_crid(self, crid: str) -> RequestRecord | None:
        rows = self._rows(select(REQUESTS).where(REQUESTS.c.client_request_id == crid))
        return RequestRecord(**rows[0]._mapping) if rows else None

    def _notice_by_crid(self, crid: str) -> NoticeRecord | None:
        rows = self._rows(select(NOTICES).where(NOTICES.c.client_request_id == crid))
        return NoticeRecord(**rows[0]._mapping) if rows else None

    def _opened(self, table: Any, key_col: Any, stmt_where: Any, order: Any = None) -> list[dict[str, Any]]:
        """Rows of `table` with their sealed fields opened under their subject's key,
        read in one query (a shredded or missing key opens to None)."""
        stmt = select(table, KEYS.c.key.label("_key")).outerjoin(KEYS, KEYS.c.subject_id == key_col)
        if stmt_where is not None:
            stmt = stmt.where(stmt_where)
        if order is not None:
            stmt = stmt.order_by(*order)
        out = []
        for r in self._rows(stmt):
            m = dict(r._mapping)
            subject, raw = m[key_col.name], m.pop("_key")
            out.append(sealing.Keys({subject: None if raw is None else bytes(raw)}).open_row(table.name, subject, m))
        return out

    def _name_by_crid(self, crid: str) -> RedactionNameRecord | None:
        rows = self._opened(NAMES, NAMES.c.subject_id, NAMES.c.client_request_id == crid)
        return _record(RedactionNameRecord, rows[0]) if rows else None

    def event(self, event_id: str) -> EventRecord | None:
        rows = self._rows(select(EVENTS).where(EVENTS.c.event_id == event_id))
        return EventRecord(**rows[0]._mapping) if rows else None

    def events_for(self, member_id: str) -> list[EventRecord]:
        """A member's consent history, oldest first (by event time, then write order)."""
        stmt = select(EVENTS).where(EVENTS.c.member_id == member_id).order_by(EVENTS.c.at, EVENTS.c.seq)
        return [EventRecord(**r._mapping) for r in self._rows(stmt)]

    def receipt(self, event_id: str) -> dict[str, Any]:
        """The consent receipt issued when the event was recorded."""
        rows = self._rows(select(EVENTS.c.receipt).where(EVENTS.c.event_id == event_id))
        if not rows:
            raise KeyError(f"no consent event {event_id!r} in the ledger")
        return dict(rows[0][0])

    def request(self, request_id: str) -> RequestRecord | None:
        rows = self._rows(select(REQUESTS).where(REQUESTS.c.request_id == request_id))
        return RequestRecord(**rows[0]._mapping) if rows else None

    def requests_for(self, member_id: str) -> list[RequestRecord]:
        stmt = select(REQUESTS).where(REQUESTS.c.member_id == member_id).order_by(REQUESTS.c.at, REQUESTS.c.seq)
        return [RequestRecord(**r._mapping) for r in self._rows(stmt)]

    def pending_requests(self) -> list[RequestRecord]:
        """Requests not yet processed (failed ones stay visible through `request()`), oldest first."""
        stmt = select(REQUESTS).where(REQUESTS.c.status == "pending").order_by(REQUESTS.c.at, REQUESTS.c.seq)
        return [RequestRecord(**r._mapping) for r in self._rows(stmt)]

    def unanswered_requests(self) -> list[RequestRecord]:
        """Requests still owed an answer: pending, or failed (a failed run answers nothing), oldest first."""
        stmt = (select(REQUESTS).where(REQUESTS.c.status.in_(("pending", "failed")))
                .order_by(REQUESTS.c.at, REQUESTS.c.seq))
        return [RequestRecord(**r._mapping) for r in self._rows(stmt)]

    def request_log(self, request_id: str) -> list[dict[str, Any]]:
        stmt = select(REQUEST_LOG).where(REQUEST_LOG.c.request_id == request_id).order_by(REQUEST_LOG.c.seq)
        return [dict(r._mapping) for r in self._rows(stmt)]

    def notices_for(self, member_id: str) -> list[NoticeRecord]:
        stmt = select(NOTICES).where(NOTICES.c.member_id == member_id).order_by(NOTICES.c.delivered_at)
        return [NoticeRecord(**r._mapping) for r in self._rows(stmt)]

    def member(self, member_id: str) -> MemberRecord | None:
        """The member's directory row; name, handle and birth date are None once the
        member's key was shredded."""
        rows = self._opened(MEMBERS, MEMBERS.c.member_id, MEMBERS.c.member_id == member_id)
        return MemberRecord(**rows[0]) if rows else None

    def redaction_names(self) -> list[RedactionNameRecord]:
        """Non-members' objections, oldest first (name and contact None once shredded)."""
        return [_record(RedactionNameRecord, r) for r in self._opened(NAMES, NAMES.c.subject_id, None, [NAMES.c.seq])]

    def position(self) -> int:
        """The last audit seq: a watermark snapshots record to say what they saw."""
        with self._read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(AUDIT.c.seq), 0))).scalar_one())

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for name, t in (("members", MEMBERS), ("consent_events", EVENTS), ("requests", REQUESTS),
                                ("notices", NOTICES), ("redaction_names", NAMES), ("audit_chain", AUDIT))
            }

    def _arrow(self, stmt: Any, schema: pa.Schema) -> pa.Table:
        rows = self._rows(stmt)
        cols = list(zip(*rows)) if rows else [[] for _ in schema]
        return pa.table([pa.array(list(c), type=f.type) for c, f in zip(cols, schema)], schema=schema)

    def events_table(self, as_of: datetime | str | None = None, *, upto_seq: int | None = None) -> pa.Table:
        """Consent events in the export schema, in write order; `as_of` keeps events whose
        time is at or before it, `upto_seq` those written up to a watermark."""
        s = export_schema.CONSENT_EVENTS
        stmt = select(*[EVENTS.c[f.name] for f in s]).order_by(EVENTS.c.seq)
        if as_of is not None:
            stmt = stmt.where(EVENTS.c.at <= to_utc(as_of))
        if upto_seq is not None:
            stmt = stmt.where(EVENTS.c.seq <= upto_seq)
        return self._arrow(stmt, s)

    def requests_table(self, *, upto_seq: int | None = None) -> pa.Table:
        s = export_schema.REQUESTS
        stmt = select(*[REQUESTS.c[f.name] for f in s]).order_by(REQUESTS.c.seq)
        if upto_seq is not None:
            stmt = stmt.where(REQUESTS.c.seq <= upto_seq)
        return self._arrow(stmt, s)

    def notices_table(self, *, upto_seq: int | None = None) -> pa.Table:
        s = export_schema.NOTICES
        stmt = select(*[NOTICES.c[f.name] for f in s]).order_by(NOTICES.c.seq)
        if upto_seq is not None:
            stmt = stmt.where(NOTICES.c.seq <= upto_seq)
        return self._arrow(stmt, s)

    def members_table(self) -> pa.Table:
        """The member directory in the export schema, personal fields opened (None once shredded)."""
        s = export_schema.MEMBERS
        rows = self._opened(MEMBERS, MEMBERS.c.member_id, None, [MEMBERS.c.member_id])
        return pa.table([pa.array([r[f.name] for r in rows], type=f.type) for f in s], schema=s)

    # ---------------------------------------------------------------- audit, import, export
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last audit link: an anchor to keep outside the ledger (in a
        snapshot manifest, a receipt) so that truncating the chain is detectable later."""
        with self._read() as conn:
            row = conn.execute(select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)).first()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def verify_chain(self, anchor: tuple[int, str] | None = None) -> AuditReport:
        """Walk the audit chain, check it against its keyed checkpoints and this home's
        head file (the audit key from CONSENTRY_AUDIT_KEY or `keys_dir`), and re-hash every
        row against its link; with a hand-kept `anchor` from an earlier `head()`, also
        check the chain still holds that link."""
        from consentry.ledger.verify import verify

        with self._read() as conn:
            return verify(conn, anchor, self.keys_dir)

    def import_export(self, directory: str | Path, *, progress: bool = False) -> dict[str, Any]:
        """Load an export's members, consent events, requests and notices (idempotent)."""
        from consentry.ledger.transfer import import_export

        return import_export(self, Path(directory), progress=progress)

    def export_to(self, directory: str | Path) -> dict[str, Path]:
        """Write the ledger's tables as an export (Parquet), each file atomically."""
        from consentry.ledger.transfer import export_to

        return export_to(self, Path(directory))


def _record(record_type: Any, row: Mapping[str, Any]) -> Any:
    return record_type(**{f.name: row[f.name] for f in dc_fields(record_type) if f.name in row})


SEALED_KINDS = {"redaction_name": "redaction_names"}  # append-only kinds with sealed fields (members: upsert)


def _given(kind: str, row: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """`row` marked with those optional fields of Ledger._GIVEN the caller gave (a retry
    compares them; when absent they were derived)."""
    given = tuple(f for f in Ledger._GIVEN[kind] if raw.get(f) is not None)
    if given:
        row["_given"] = given
    return row


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) or isinstance(b, datetime):
        return to_utc(a) == to_utc(b)
    return a == b
