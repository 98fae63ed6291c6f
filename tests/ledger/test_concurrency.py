"""Eight concurrent writers, each with its own connection pool, append 10,000 events
in total while retrying their own batches and racing each other on shared request ids:
nothing is lost, nothing is duplicated, and the audit chain still verifies."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from consentry.ledger import Ledger

WRITERS = 8
TOTAL = 10_000
CONTESTED = 8  # request ids every writer tries to record, one at a time
BATCH = 250
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _event(n: int) -> dict:
    return dict(member_id=f"m{n % 997}", purpose="genai_training", choice=("opt_out", "opt_in")[n % 2],
                source="api", at=T0 + timedelta(seconds=n), client_request_id=f"crid-{n}")


def _writer(url: str, w: int, start: threading.Barrier) -> tuple[int, int]:
    """Writer w owns events w, w+8, ...; it re-sends every other batch (a client retry)
    and also appends the contested ids, which all writers share."""
    led = Ledger(url)
    mine = [n for n in range(CONTESTED, TOTAL) if n % WRITERS == w]
    created = retried = 0
    start.wait()
    try:
        for i in range(0, len(mine), BATCH):
            rows = [_event(n) for n in mine[i : i + BATCH]]
            res = led.append_events(rows)
            created += res.inserted
            if i // BATCH % 2 == 0:
                again = led.append_events(rows)
                assert again.inserted == 0 and again.duplicates == len(rows)
                retried += len(rows)
            c = (i // BATCH + w) % CONTESTED
            rec = led.append_event(**_event(c))
            created += rec.created
    finally:
        for c in range(CONTESTED):  # every contested id at least once from every writer
            created += led.append_event(**_event(c)).created
        led.close()
    return created, retried


@pytest.mark.slow
def test_eight_concurrent_writers(ledger_url: str) -> None:
    Ledger(ledger_url).create().close()
    start = threading.Barrier(WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(lambda w: _writer(ledger_url, w, start), range(WRITERS)))
    assert sum(c for c, _ in results) == TOTAL  # each event created by exactly one call
    assert sum(r for _, r in results) > 0

    engine = create_engine(ledger_url)
    with engine.connect() as conn:
        n, ids, crids, lo, hi = conn.execute(text(
            "SELECT count(*), count(DISTINCT event_id), count(DISTINCT client_request_id), min(seq), max(seq) "
            "FROM consent_events")).one()
        audit = conn.execute(text("SELECT count(*), count(DISTINCT prev_hash) FROM audit_chain")).one()
    engine.dispose()
    assert (n, ids, crids) == (TOTAL, TOTAL, TOTAL)
    assert (lo, hi) == (1, TOTAL)
    assert audit == (TOTAL, TOTAL)  # one link per event, no two links on the same head

    led = Ledger(ledger_url)
    table = led.events_table()
    assert sorted(table.column("at").to_pylist()) == [T0 + timedelta(seconds=k) for k in range(TOTAL)]
    report = led.verify_chain()
    led.close()
    assert report.ok, report.text()
    assert report.checked == TOTAL
