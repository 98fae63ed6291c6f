"""Import from and export to the platform export format."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.ledger import Ledger
from consentry.network import schema

from .conftest import make_export


def test_round_trip_equals_input(ledger: Ledger, tmp_path: Path) -> None:
    src = tmp_path / "export"
    tables = make_export(src)
    report = ledger.import_export(src)
    assert report["consent_events"]["inserted"] == tables["consent_events"].num_rows
    assert report["members"]["inserted"] == tables["members"].num_rows
    out = tmp_path / "out"
    ledger.export_to(out)
    for name, table in tables.items():
        back = pq.read_table(out / f"{name}.parquet")
        assert back.schema == schema.TABLES[name], name
        key = {"members": "member_id", "consent_events": "event_id", "requests": "request_id",
               "notices": "member_id"}[name]
        assert back.sort_by(key).equals(table.sort_by(key)), name
    # events come back in the order they were written
    assert pq.read_table(out / "consent_events.parquet").column("event_id") == tables["consent_events"].column(
        "event_id")
    assert ledger.verify_chain().ok


def test_reimport_is_idempotent(ledger: Ledger, tmp_path: Path) -> None:
    src = tmp_path / "export"
    tables = make_export(src, events=100)
    ledger.import_export(src)
    pos = ledger.position()
    again = ledger.import_export(src)
    assert again["consent_events"]["inserted"] == 0
    assert again["consent_events"]["duplicates"] == tables["consent_events"].num_rows
    assert again["members"]["duplicates"] == tables["members"].num_rows
    # an export the ledger wrote itself, imported back, adds nothing either
    ledger.export_to(tmp_path / "out")
    third = ledger.import_export(tmp_path / "out")
    assert third["consent_events"]["inserted"] == 0 and third["requests"]["inserted"] == 0
    assert ledger.position() == pos


def test_refused_rows_are_named(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    lines = [
        {"event_id": "ok1", "member_id": "m1", "purpose": "genai_training", "choice": "opt_out",
         "source": "settings", "notice_version": None, "at": "2024-10-01T00:00:00Z"},
        {"event_id": "bad1", "member_id": "m1", "purpose": "mind_reading", "choice": "opt_out",
         "source": "settings", "notice_version": None, "at": "2024-10-01T00:00:00Z"},
    ]
    (src / "consent_events.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    led = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}").create()
    report = led.import_export(src)
    ev = report["consent_events"]
    assert ev["inserted"] == 1
    assert ev["inserted"] + ev["duplicates"] + len(ev["rejected"]) + ev["quarantined"] == ev["read"] == 2
    named = ev["rejected"] + report["quarantine"]  # refused by the ledger, or quarantined by the reader
    assert len(named) == 1 and named[0]["row"] == 1 and named[0]["field"] == "purpose"
    assert led.events_table().column("event_id").to_pylist() == ["ok1"]
    led.close()


def test_synthetic_network_round_trip(tmp_path: Path) -> None:
    """The ledger takes the synthetic network's consent tables as they are and gives them back."""
    synth = __import__("pytest").importorskip("consentry.network.synth")
    src = tmp_path / "net"
    synth.generate(src, members=150, seed=3, progress=False)
    led = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}").create()
    report = led.import_export(src)
    assert report["quarantined"] == 0
    led.export_to(tmp_path / "out")
    for name in ("members", "consent_events", "requests", "notices"):
        a, b = pq.read_table(src / f"{name}.parquet"), pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert report[name]["inserted"] == a.num_rows
        key = [(c, "ascending") for c in a.column_names if not pa.types.is_list(a.schema.field(c).type)]
        assert b.sort_by(key).equals(a.sort_by(key)), name
    assert led.verify_chain().ok
    led.close()
