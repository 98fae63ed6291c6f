"""The `consentry snapshot` and `consentry forget` commands, end to end through Typer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consentry.cli import app

from .conftest import AS_OF


@pytest.mark.slow
def test_snapshot_commands(home: Path, network: Path, redaction_key: None) -> None:
    run = CliRunner().invoke
    base = ["--purpose", "genai_training", "--pack", "linkedin-2024", "--network", str(network), "-q"]
    r1 = run(app, ["snapshot", "build", *base, "--as-of", "2024-06-01", "--shards", "4"])
    assert r1.exit_code == 0, r1.output
    r2 = run(app, ["snapshot", "build", *base, "--as-of", AS_OF, "--shards", "4"])
    assert r2.exit_code == 0, r2.output
    assert "content hash" in r2.output and "included" in r2.output

    listed = run(app, ["snapshot", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [x["snapshot"] for x in json.loads(listed.output)] == ["genai_training/v0001", "genai_training/v0002"]
    assert run(app, ["snapshot", "list"]).exit_code == 0
    shown = run(app, ["snapshot", "show", "genai_training/v0002", "--json"])
    manifest = json.loads(shown.output)
    assert manifest["shards"] == 4 and manifest["pack"] == "linkedin-2024" and manifest["content_hash"]
    d = run(app, ["snapshot", "diff", "genai_training/v0001", "genai_training/v0002", "--json"])
    assert d.exit_code == 0, d.output
    summary = json.loads(d.output)["summary"]
    assert summary["added"] + summary["removed"] > 0
    missing = run(app, ["snapshot", "show", "genai_training/v0099"])
    assert missing.exit_code != 0
    v = run(app, ["snapshot", "verify-erasure", "--network", str(network)])
    assert v.exit_code == 0 and "OK" in v.output

    from consentry.ledger.store import Ledger
    from consentry.settings import Settings

    Ledger(Settings().ledger).create()
    unknown = run(app, ["forget", "--request", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output
    nothing = run(app, ["forget"])
    assert nothing.exit_code != 0
    pending = run(app, ["forget", "--pending", "--json", "--no-retrain"])
    assert pending.exit_code == 0, pending.output
    assert json.loads(pending.output)["items_removed"] == 0
