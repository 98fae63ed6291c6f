"""Verification of the audit chain against what the ledger holds now.

Two passes: the chain itself (contiguous seq from 1, each prev_hash is the previous
hash, each hash recomputes), then every row of every table re-hashed against the link
that recorded it (edited, deleted and smuggled-in rows all show). The member directory
is an upsert, so only its latest link per member must match; a request's status must
equal its latest processing-log entry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.engine import Connection

from consentry.ledger.audit import GENESIS, AuditReport, link_hash, payload_hash
from consentry.ledger.chain import AUDIT, REF_FIELD, TABLES, payload_of

MAX_PROBLEMS = 100


def verify(conn: Connection, anchor: tuple[int, str] | None = None) -> AuditReport:
    problems: list[tuple[int, str]] = []

    def bad(seq: int, why: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append((seq, why))
        else:  # keep the earliest ones
            problems.sort()
            if seq < problems[-1][0]:
                problems[-1] = (seq, why)

    links: dict[int, tuple[str, str, str]] = {}
    hashes: dict[int, str] = {}
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
        if anchor is not None and row.seq == anchor[0]:
            hashes[row.seq] = row.hash
        prev, expected = row.hash, row.seq + 1

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
            if payload_hash(payload_of(kind, m)) != link[2]:
                bad(m["seq"], f"{kind} {ref!r} at seq {m['seq']} was modified after it was written")

    latest_member: dict[str, int] = {}
    for seq, (kind, ref, _) in links.items():
        if kind == "member":
            latest_member[ref] = max(seq, latest_member.get(ref, 0))
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
        if payload_hash(payload_of("member", m)) != link[2]:
            bad(m["seq"], f"member {m['member_id']!r} was modified after it was written")
        latest_member.pop(m["member_id"], None)
    for ref, seq in latest_member.items():
        bad(seq, f"member {ref!r} recorded at seq {seq} is missing (deleted)")

    _check_request_states(conn, bad)

    problems.sort()
    if not problems:
        return AuditReport(ok=True, checked=checked)
    first = problems[0]
    return AuditReport(ok=False, checked=checked, first_bad_seq=first[0], detail=first[1], problems=problems)


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
