"""Ledger throughput: bulk import of consent events (with receipts and audit links),
reading them back as Arrow, and verifying the chain, against a peer measured in the
same run: a bare sqlite3 executemany of the same rows (the floor any ledger pays).

    .venv/bin/python benchmarks/ledger.py --events 250000
    .venv/bin/python benchmarks/ledger.py --quick
    .venv/bin/python benchmarks/ledger.py --events 100000 --url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.ledger import Ledger
from consentry.network import schema

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def synth_events(n: int, seed: int = 0) -> pa.Table:
    rng = random.Random(seed)
    purposes = ["genai_training", "ml_personalization", "affiliate_sharing"]
    choices = ["opt_in", "opt_out", "object", "withdraw_objection"]
    cols = {
        "event_id": [f"e{i:09d}" for i in range(n)],
        "member_id": [f"m{rng.randrange(max(n // 25, 1)):07d}" for _ in range(n)],
        "purpose": [rng.choice(purposes) for _ in range(n)],
        "choice": [rng.choice(choices) for _ in range(n)],
        "source": [rng.choice(["settings", "gpc", "api", "objection_form"]) for _ in range(n)],
        "notice_version": [rng.choice([None, "2024-09", "2025-11"]) for _ in range(n)],
        "at": [T0 + timedelta(seconds=rng.randrange(600 * 86400)) for _ in range(n)],
    }
    return pa.Table.from_pydict(cols, schema=schema.CONSENT_EVENTS)


def peer_sqlite(table: pa.Table, path: Path) -> float:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE ev (event_id TEXT UNIQUE, member_id TEXT, purpose TEXT, choice TEXT, source TEXT, "
                "notice_version TEXT, at TEXT)")
    rows = [tuple(r.values()) for r in table.to_pylist()]
    t = time.perf_counter()
    with con:
        con.executemany("INSERT INTO ev VALUES (?,?,?,?,?,?,?)", [r[:6] + (r[6].isoformat(),) for r in rows])
    dt = time.perf_counter() - t
    con.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=250_000)
    ap.add_argument("--quick", action="store_true", help="20,000 events")
    ap.add_argument("--url", default=None, help="ledger URL (default: a temporary SQLite file)")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.events

    with tempfile.TemporaryDirectory() as d:
        export = Path(d) / "export"
        export.mkdir()
        table = synth_events(n)
        pq.write_table(table, export / "consent_events.parquet")
        url = args.url or f"sqlite:///{Path(d) / 'ledger.sqlite'}"
        if args.url and args.url.startswith("postgresql"):
            import uuid

            from sqlalchemy import create_engine

            admin = create_engine(args.url)
            schema_name = f"bench_{uuid.uuid4().hex[:8]}"
            with admin.begin() as c:
                c.exec_driver_sql(f'CREATE SCHEMA "{schema_name}"')
            url = f"{args.url}?options=-csearch_path%3D{schema_name}"
        led = Ledger(url).create()
        t, c = time.perf_counter(), time.process_time()
        report = led.import_export(export, progress=True)
        t_import, c_import = time.perf_counter() - t, time.process_time() - c
        assert report["consent_events"]["inserted"] == n, report["consent_events"]
        t = time.perf_counter()
        again = led.import_export(export)
        t_reimport = time.perf_counter() - t
        assert again["consent_events"]["inserted"] == 0
        t = time.perf_counter()
        back = led.events_table()
        t_read = time.perf_counter() - t
        assert back.num_rows == n
        t, c = time.perf_counter(), time.process_time()
        audit = led.verify_chain()
        t_verify, c_verify = time.perf_counter() - t, time.process_time() - c
        assert audit.ok, audit.text()
        led.close()
        t_peer = peer_sqlite(table, Path(d) / "peer.sqlite")
        if args.url and args.url.startswith("postgresql"):
            with admin.begin() as c:
                c.exec_driver_sql(f'DROP SCHEMA "{schema_name}" CASCADE')

    load = os.getloadavg()[0]
    print(f"ledger benchmark: {n:,} consent events, backend {url.split(':')[0]}, "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print(f"  import (validate, receipt, audit link, insert): {t_import:8.2f} s  {n / t_import:12,.0f} events/s"
          f"  (cpu {c_import:.2f} s: {n / c_import:,.0f} events per cpu-second)")
    print(f"  re-import (all duplicates):                    {t_reimport:8.2f} s  {n / t_reimport:12,.0f} events/s")
    print(f"  events_table() -> Arrow:                       {t_read:8.2f} s  {n / t_read:12,.0f} events/s")
    print(f"  verify_chain():                                {t_verify:8.2f} s  {n / t_verify:12,.0f} events/s"
          f"  (cpu {c_verify:.2f} s)")
    print(f"  peer: bare sqlite3 executemany of the rows:    {t_peer:8.2f} s  {n / t_peer:12,.0f} events/s")
    print(f"  ratio import / peer insert: {t_import / t_peer:.1f}x")


if __name__ == "__main__":
    main()
