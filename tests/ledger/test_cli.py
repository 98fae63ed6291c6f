"""`consentry ledger ...` and `consentry audit verify` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import typer
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from consentry.cli.errors import OneLineErrors
from consentry.cli.ledger import register

from .conftest import make_export

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(cls=OneLineErrors)  # as the `consentry` app runs them
    register(app)
    return app


def test_ledger_commands_end_to_end(tmp_path: Path, home: Path) -> None:
    app = _app()
    src = tmp_path / "export"
    tables = make_export(src, events=120)
    r = runner.invoke(app, ["audit", "verify"])  # nothing there yet: a clear message, not a traceback
    assert r.exit_code == 2 and "ledger init" in r.output
    assert not (home / "ledger.sqlite").exists()  # reading never creates an empty ledger
    r = runner.invoke(app, ["ledger", "init"])
    assert r.exit_code == 0, r.output
    assert (home / "ledger.sqlite").is_file()  # the default ledger lives in CONSENTRY_HOME

    r = runner.invoke(app, ["ledger", "import", str(src)])
    assert r.exit_code == 0, r.output
    assert "consent_events" in r.output and "120" in r.output

    member = tables["consent_events"].column("member_id")[0].as_py()
    r = runner.invoke(app, ["ledger", "events", "--member", member, "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines() if x.strip()]
    expected = sum(1 for m in tables["consent_events"].column("member_id").to_pylist() if m == member)
    assert len(lines) == expected and all(x["at"] for x in lines)

    r = runner.invoke(app, ["ledger", "receipt", lines[0]["event_id"]])
    assert r.exit_code == 0 and json.loads(r.output)["subject_id"] == member

    out = tmp_path / "out"
    r = runner.invoke(app, ["ledger", "export", str(out)])
    assert r.exit_code == 0, r.output
    assert pq.read_table(out / "consent_events.parquet").num_rows == 120

    r = runner.invoke(app, ["audit", "verify"])
    assert r.exit_code == 0 and "ok" in r.output
    anchor = runner.invoke(app, ["audit", "head"]).output.strip()
    assert runner.invoke(app, ["audit", "verify", "--anchor", anchor]).exit_code == 0
    forged = anchor.split(":")[0] + ":" + "0" * 64
    r = runner.invoke(app, ["audit", "verify", "--anchor", forged])
    assert r.exit_code == 1 and f"seq {anchor.split(':')[0]}" in r.output


def test_audit_verify_fails_on_tampering(tmp_path: Path, ledger_url: str) -> None:
    url = ledger_url
    app = _app()
    make_export(tmp_path / "export", events=30)
    assert runner.invoke(app, ["ledger", "import", str(tmp_path / "export"), "--url", url]).exit_code == 0
    engine = create_engine(url)
    with engine.begin() as conn:
        seq = conn.execute(text("SELECT seq FROM consent_events WHERE event_id = 'e000007'")).scalar_one()
        conn.execute(text("UPDATE consent_events SET choice = 'opt_in', source = 'api' WHERE event_id = 'e000007'"))
    engine.dispose()
    r = runner.invoke(app, ["audit", "verify", "--url", url])
    assert r.exit_code == 1
    assert f"seq {seq}" in r.output and "e000007" in r.output


def test_audit_verify_catches_a_truncated_tail_without_an_anchor(tmp_path: Path, ledger_url: str) -> None:
    """Deleting the newest rows with their links and checkpoints used to pass `audit verify`."""
    url = ledger_url
    app = _app()
    make_export(tmp_path / "export", events=30)
    assert runner.invoke(app, ["ledger", "import", str(tmp_path / "export"), "--url", url]).exit_code == 0
    engine = create_engine(url)
    with engine.begin() as conn:
        last = conn.execute(text("SELECT max(seq) FROM requests")).scalar_one()
        conn.execute(text("DELETE FROM requests WHERE seq >= :s"), {"s": last})
        conn.execute(text("DELETE FROM audit_chain WHERE seq >= :s"), {"s": last})
        conn.execute(text("DELETE FROM audit_checkpoints WHERE seq >= :s"), {"s": last})
        proven = conn.execute(text("SELECT max(seq) FROM audit_checkpoints")).scalar_one()
    engine.dispose()
    r = runner.invoke(app, ["audit", "verify", "--url", url])
    assert r.exit_code == 1 and "Traceback" not in r.output
    # the import's last batch lost its checkpoint: nothing after the previous one is proven
    assert f"BROKEN at seq {proven + 1}" in r.output, r.output
    assert "truncated" in r.output  # and this home's head file says the chain was longer


READERS = [["ledger", "export", "OUT"], ["ledger", "events", "--member", "m1"], ["ledger", "receipt", "e1"],
           ["audit", "verify"], ["audit", "head"]]


def _run_all_readers(app: typer.Typer, url: str, out: Path) -> list:
    return [runner.invoke(app, [str(out) if a == "OUT" else a for a in args] + ["--url", url]) for args in READERS]


def test_a_database_without_a_ledger_is_one_line_exit_2(ledger_url: str, tmp_path: Path) -> None:
    if ledger_url.startswith("sqlite"):  # an existing SQLite file that holds some other table
        engine = create_engine(ledger_url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
        engine.dispose()
    for r in _run_all_readers(_app(), ledger_url, tmp_path / "out"):
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no ledger at") and "ledger init" in lines[0]
        assert "Traceback" not in r.output


def test_a_ledger_at_an_old_schema_is_one_line_exit_2(ledger_url: str, tmp_path: Path) -> None:
    from .test_migrations import _old_ledger

    _old_ledger(ledger_url)
    for r in _run_all_readers(_app(), ledger_url, tmp_path / "out"):
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "has schema 0001" in lines[0] and "ledger init" in lines[0], r.output
    assert not (tmp_path / "out").exists()  # nothing was written from the old schema
