"""`consentry network generate|validate` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from consentry.cli import app

runner = CliRunner()


def test_generate_then_validate(tmp_path: Path) -> None:
    out = tmp_path / "net"
    r = runner.invoke(app, ["network", "generate", "--members", "30", "--seed", "7", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert (out / "items.parquet").is_file() and (out / "truth" / "pii_spans.parquet").is_file()
    assert json.loads((out / "truth" / "synth.json").read_text())["members"] == 30
    staged = tmp_path / "staged"
    r = runner.invoke(app, ["network", "validate", str(out), "--staged", str(staged), "-q"])
    assert r.exit_code == 0, r.output
    assert "no rows quarantined" in r.output
    assert (staged / "members.parquet").is_file() and (staged / "quarantine.jsonl").is_file()


def test_validate_reports_quarantine_and_missing_tables(tmp_path: Path) -> None:
    out = tmp_path / "net"
    r = runner.invoke(app, ["network", "generate", "-n", "20", "--out", str(out), "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    lines = (out / "items.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"kind":"', '"kind":"bogus_')
    (out / "items.jsonl").write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["network", "validate", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "quarantine: 1 rows" in r.output and "kind" in r.output
    (out / "items.jsonl").unlink()
    r = runner.invoke(app, ["network", "validate", str(out), "-q"])
    assert r.exit_code == 2 and "items" in r.output


def test_validate_names_missing_columns_and_members_in_doubt(tmp_path: Path) -> None:
    out = tmp_path / "net"
    r = runner.invoke(app, ["network", "generate", "-n", "20", "--out", str(out), "--format", "jsonl", "-q"])
    assert r.exit_code == 0, r.output
    members = [json.loads(x) for x in (out / "members.jsonl").read_text().splitlines()]
    (out / "members.jsonl").write_text("".join(json.dumps({k: v for k, v in m.items() if k != "birth_date"}) + "\n"
                                               for m in members))
    events = (out / "consent_events.jsonl").read_text().splitlines()
    events[0] = events[0].replace('"choice":"', '"choice":"perhaps_')
    (out / "consent_events.jsonl").write_text("\n".join(events) + "\n")
    r = runner.invoke(app, ["network", "validate", str(out), "-q"])
    text = " ".join(r.output.split())
    assert r.exit_code == 0, r.output
    assert "missing: members.jsonl: column birth_date is absent" in text
    assert "1 member(s) with a quarantined member, consent, request or sign-in row" in text
