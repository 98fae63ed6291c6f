"""Verification of the audit chain against what the ledger holds now.

Passes: the chain itself (contiguous seq from 1, each prev_hash is the previous
hash, each hash recomputes); the keyed checkpoints and this home's head file (see
`anchor`: a re-linked or truncated tail no longer matches them); then every row of
every table re-hashed against the link that recorded it (edited, deleted and
smuggled-in rows all show). The member directory is an upsert, so only its latest
link per member must match; a row re-encrypted by a migration is checked against its
"reseal" link; a request's status must equal its latest processing-log entry; a
subject key is destroyed only by a "shred" link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.engine import Connection

from consentry.ledger import anchor as keyed
from consentry.ledger import sealing
from consentry.ledger.audit import GENESIS, AuditReport, link_hash, payload_hash
from consentry.ledger.chain import AUDIT, CHECKPOINTS, KEYS, REF_FIELD, RESEAL, TABLES, payload_of
from consentry.ledger.models import LedgerMeta

META = LedgerMeta.__table__

MAX_PROBLEMS = 100


def verify(conn: Connection, anchor: tuple[int, str] | None = None, keys_dir: Path | None = None) -> AuditReport:
    problems: list[tuple[int, str]] = []
    notes: list[str] = []

    def bad(seq: int, why: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append((seq, why))
        else:  # keep the earliest ones
            problems.sort()
            if seq < problems[-1][0]:
                problems[-1] = (seq, why)

    meta = dict(conn.execute(select(META.c.name, META.c.value)).all())
    head = None
    if keys_dir is not None and "ledger_id" in meta:
        try:
            head = keyed.read_head(keys_dir, meta["ledger_id"])
        except ValueError as exc:
            bad(0, str(exc))
    wanted = ({int(head["seq"])} if head else set()) | ({anchor[0]} if anchor else set())

    links: dict[int, tuple[str, str, str]] = {}
    hashes: dict[int, str] = {}
    resealed: dict[tuple[str, int], str] = {}
    prev, expected, checked = GENESIS, 1, 0
    stream = conn.execution_options(yield_per=10_000).execute(select(AUDIT).order_by(AUDIT.c.seq))
    for row in stream:
        checked += 1
        if row.seq != expected:
            bad(min(row.seq, expected), f"audit seq jumps from {expected - 1} to {row.seq} (a link was removed)")
        if row.prev_hash != prev:
            bad(row.seq, "prev_hash does not match the previous link's hash")
        if link_hash(row.prev_hash, row.seq, row.kind, row.ref, row.payload_sha256, row.at) != row.hash:
            bad(row.seq, f"audit link for {row.kind} {row.ref!r} does not recompute (the link was edited)")
        links[row.seq] = (row.kind, row.ref, row.payload_sha256)
        if row.kind == RESEAL:
            kind, _, seq = row.ref.rpartition(":")
            resealed[(kind, int(seq))] = row.payload_sha256
        if row.seq in wanted:
            hashes[row.seq] = row.hash
        prev, expected = row.hash, row.seq + 1
    last = expected - 1

    _check_keyed(conn, meta, head, hashes, last, keys_dir, bad, notes)

    if anchor is not None and anchor[0] > 0:
        a_seq, a_hash = anchor
        if a_seq >= expected:
            bad(expected, f"chain ends at seq {expected - 1} but was anchored at seq {a_seq} (truncated)")
        elif hashes.get(a_seq) != a_hash:
            bad(a_seq, f"link at seq {a_seq} no longer has the anchored hash (rewritten)")

    seen: set[int] = set()
    for kind, table in TABLES.items():
        if kind == "member":
            continue
        # JSON is stored as canonical text: hash that text rather than parse and re-encode it
        cols = [cast(c, Text).label(c.name) if c.name == "receipt" else c for c in table.columns]
        for row in conn.execution_options(yield_per=10_000).execute(select(*cols).order_by(table.c.seq)):
            m = row._mapping
            ref = m[REF_FIELD[kind]]
            link = links.get(m["seq"])
            if link is None or link[0] != kind:
                bad(m["seq"], f"{kind} {ref!r} at seq {m['seq']} has no audit link (written around the ledger)")
                continue
            seen.add(m["seq"])
            if payload_hash(payload_of(kind, m)) != resealed.get((kind, m["seq"]), link[2]):
                bad(m["seq"], f"{kind} {ref!r} at seq {m['seq']} was modified after it was written")

    latest_member: dict[str, int] = {}
    for seq, (kind, ref, _) in links.items():
        if kind == "member":
            latest_member[ref] = max(seq, latest_member.get(ref, 0))
        elif kind in (RESEAL, "shred"):
            continue
        elif seq not in seen:
            bad(seq, f"{kind} {ref!r} recorded at seq {seq} is missing (deleted)")
    members = TABLES["member"]
    for row in conn.execution_options(yield_per=10_000).execute(select(members)):
        m = row._mapping
        link = links.get(m["seq"])
        if link is None or link[0] != "member" or link[1] != m["member_id"]:
            bad(m["seq"], f"member {m['member_id']!r} has no audit link (written around the ledger)")
            continue
        if latest_member.get(m["member_id"]) != m["seq"]:
            bad(latest_member.get(m["member_id"], m["seq"]), f"member {m['member_id']!r} was rolled back")
        if payload_hash(payload_of("member", m)) != resealed.get(("member", m["seq"]), link[2]):
            bad(m["seq"], f"member {m['member_id']!r} was modified after it was written")
        latest_member.pop(m["member_id"], None)
    for ref, seq in latest_member.items():
        bad(seq, f"member {ref!r} recorded at seq {seq} is missing (deleted)")

    _check_request_states(conn, bad)
    _check_keys(conn, links, bad)

    problems.sort()
    if not problems:
        return AuditReport(ok=True, checked=checked, notes=notes)
    first = problems[0]
    return AuditReport(ok=False, checked=checked, first_bad_seq=first[0], detail=first[1], problems=problems,
                       notes=notes)


def _check_keyed(conn: Connection, meta: dict[str, str], head: dict[str, Any] | None, hashes: dict[int, str],
                 last: int, keys_dir: Path | None, bad: Any, notes: list[str]) -> None:
    """The chain against its keyed checkpoints and this home's head file. Checkpoints are
    streamed beside the link they name (the walk before proved every stored hash)."""
    if "ledger_id" not in meta:
        bad(0, "ledger_meta has no ledger_id (the keyed checkpoints cannot be checked)")
        return
    ledger_id = meta["ledger_id"]
    legacy = int(meta.get("checkpoints_from", "0"))
    first = conn.execute(select(CHECKPOINTS.c.seq).order_by(CHECKPOINTS.c.seq).limit(1)).scalar()
    try:
        key = keyed.load_key(keys_dir) if keys_dir is not None else None
    except keyed.AuditKeyError as exc:
        bad(first or legacy + 1, str(exc))
        return
    if key is None:
        if first is not None or last > legacy:
            where = keys_dir / keyed.KEY_FILE if keys_dir is not None else "the home's keys directory"
            bad(first or legacy + 1,
                f"the keyed checkpoints cannot be checked: no audit key in ${keyed.ENV} or at {where}")
        return
    ok_upto, count = legacy, 0
    stream = conn.execution_options(yield_per=10_000).execute(
        select(CHECKPOINTS, AUDIT.c.hash.label("link_hash"))
        .outerjoin(AUDIT, AUDIT.c.seq == CHECKPOINTS.c.seq).order_by(CHECKPOINTS.c.seq))
    for cp in stream:
        seq = cp.seq
        count += 1
        if cp.key_id != key.key_id:
            bad(seq, f"checkpoint at seq {seq} was made with another audit key (key id {cp.key_id}, "
                     f"this key is {key.key_id})")
        elif not key.check(ledger_id, seq, cp.hash, cp.mac):
            bad(seq, f"checkpoint at seq {seq} does not authenticate (forged or edited)")
        elif seq > last:
            bad(last + 1, f"chain ends at seq {last} but a keyed checkpoint records seq {seq} (truncated)")
        elif cp.link_hash != cp.hash:
            bad(ok_upto + 1, f"links {ok_upto + 1}..{seq} no longer match the keyed checkpoint at seq {seq} "
                             f"(edited and re-linked)")
        else:
            ok_upto = seq
            continue
        break  # what follows a broken checkpoint cannot vouch for anything
    else:
        if last > ok_upto:
            bad(ok_upto + 1, f"links {ok_upto + 1}..{last} carry no keyed checkpoint "
                             f"(written around the ledger, or their checkpoints deleted)")
    stream.close()
    predate = f" (links up to seq {legacy} predate them)" if legacy else ""
    notes.append(f"{count} keyed checkpoints checked{predate}")
    if head is None:
        notes.append("no head file in this home: the newest writes are checked against the checkpoints only")
        return
    h_seq = int(head["seq"])
    if head.get("ledger_id", ledger_id) != ledger_id or head["key_id"] != key.key_id \
            or not key.check(ledger_id, h_seq, str(head["hash"]), str(head["mac"])):
        bad(h_seq, f"the head file for seq {h_seq} does not authenticate under this ledger and key")
    elif h_seq > last:
        bad(last + 1, f"chain ends at seq {last} but this home recorded a head at seq {h_seq} (truncated)")
    elif hashes.get(h_seq) != head["hash"]:
        bad(min(ok_upto, h_seq) + 1, f"link at seq {h_seq} no longer has the hash this home recorded (re-linked)")
    else:
        notes.append(f"head file: seq {h_seq} present")


def _check_keys(conn: Connection, links: dict[int, tuple[str, str, str]], bad: Any) -> None:
    """A subject key is destroyed only by a shred link, and every sealed row has its key row."""
    shreds = {ref: seq for seq, (kind, ref, _) in links.items() if kind == "shred"}
    for row in conn.execute(select(KEYS)):
        seq = shreds.pop(row.subject_id, None)
        if row.key is None and seq is None:
            bad(row.seq or 0, f"the key of subject {row.subject_id!r} was destroyed outside the ledger (no shred link)")
        elif seq is not None and (row.key is not None or row.seq != seq):
            bad(seq, f"subject {row.subject_id!r} shredded at seq {seq} has a key again")
        elif seq is not None and payload_hash(payload_of("shred", row._mapping)) != links[seq][2]:
            bad(seq, f"the shredding of subject {row.subject_id!r} at seq {seq} was modified")
    for subject, seq in shreds.items():
        bad(seq, f"subject {subject!r} shredded at seq {seq} has no key row (deleted)")
    for table, subject_col in ((TABLES["member"], "member_id"), (TABLES["redaction_name"], "subject_id")):
        sealed = [table.c[f].isnot(None) for f in sealing.SEALED[table.name]]
        stmt = (select(table.c.seq, table.c[subject_col]).outerjoin(KEYS, KEYS.c.subject_id == table.c[subject_col])
                .where(KEYS.c.subject_id.is_(None), or_(*sealed)))
        for seq, subject in conn.execute(stmt):
            bad(seq, f"the key of subject {subject!r} was deleted outside the ledger (its sealed fields cannot open)")


def _check_request_states(conn: Connection, bad: Any) -> None:
    requests, log = TABLES["request"], TABLES["request_log"]
    last: dict[str, Any] = {}
    for row in conn.execution_options(yield_per=10_000).execute(select(log).order_by(log.c.seq)):
        last[row.request_id] = row
    for row in conn.execution_options(yield_per=10_000).execute(select(requests)):
        entry = last.get(row.request_id)
        want = (entry.status, entry.result, entry.at) if entry is not None else ("pending", None, None)
        if (row.status, row.result, row.processed_at) != want:
            bad(entry.seq if entry is not None else row.seq,
                f"request {row.request_id!r} status {row.status!r} disagrees with its processing log")
