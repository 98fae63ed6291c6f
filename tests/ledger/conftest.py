"""Ledger fixtures: every ledger test runs on a SQLite file and on the real PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consentry.ledger import Ledger
from consentry.network import schema

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every ledger test gets its own CONSENTRY_HOME: the audit key and head files
    live there, outside the database."""
    h = tmp_path / "ledger-home"
    h.mkdir()
    monkeypatch.setenv("CONSENTRY_HOME", str(h))
    monkeypatch.delenv("CONSENTRY_AUDIT_KEY", raising=False)
    return h


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger(ledger_url).create()
    yield led
    led.close()


def make_export(out: Path, *, members: int = 40, events: int = 300, seed: int = 0) -> dict[str, pa.Table]:
    """A small, varied platform export of the ledger's four tables, written as Parquet."""
    rng = random.Random(seed)
    mids = [f"m{i:05d}" for i in range(members)]
    mem = {
        "member_id": mids,
        "display_name": [f"Person {i}" if i % 7 else None for i in range(members)],
        "residence_country": [rng.choice(["US", "DE", "IN", "BR", "GB", "CH", None]) for _ in mids],
        "birth_date": [date(1960 + i % 50, 1 + i % 12, 1 + i % 28) if i % 5 else None for i in range(members)],
        "joined_at": [T0 - timedelta(days=rng.randrange(3000), microseconds=rng.randrange(10**6)) for _ in mids],
        "closed_at": [T0 + timedelta(days=30) if i % 11 == 0 else None for i in range(members)],
        "is_member": [i % 13 != 0 for i in range(members)],
        "handle": [f"@p{i}" for i in range(members)],
    }
    ev = {"event_id": [], "member_id": [], "purpose": [], "choice": [], "source": [], "notice_version": [], "at": []}
    for i in range(events):
        ev["event_id"].append(f"e{i:06d}")
        ev["member_id"].append(rng.choice(mids))
        ev["purpose"].append(rng.choice(["genai_training", "ml_personalization", "affiliate_sharing"]))
        ev["choice"].append(rng.choice(["opt_in", "opt_out", "object", "withdraw_objection"]))
        ev["source"].append(rng.choice(["settings", "objection_form", "gpc", "api", "import"]))
        ev["notice_version"].append(rng.choice([None, "2024-09", "2025-11"]))
        ev["at"].append(T0 + timedelta(seconds=rng.randrange(60 * 86400), microseconds=rng.randrange(10**6)))
    req = {
        "request_id": [f"r{i:04d}" for i in range(20)],
        "member_id": [rng.choice(mids) for _ in range(20)],
        "kind": [rng.choice(["erase_items", "erase_account", "erase_ai_data", "export"]) for _ in range(20)],
        "item_ids": [[f"i{i}", f"i{i + 1}"] if i % 2 else None for i in range(20)],
        "at": [T0 + timedelta(days=i) for i in range(20)],
    }
    notices = {
        "member_id": mids,
        "notice_version": ["2024-09"] * members,
        "delivered_at": [T0 + timedelta(hours=i) for i in range(members)],
    }
    tables = {
        "members": pa.Table.from_pydict(mem, schema=schema.MEMBERS),
        "consent_events": pa.Table.from_pydict(ev, schema=schema.CONSENT_EVENTS),
        "requests": pa.Table.from_pydict(req, schema=schema.REQUESTS),
        "notices": pa.Table.from_pydict(notices, schema=schema.NOTICES),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        pq.write_table(table, out / f"{name}.parquet")
    return tables
