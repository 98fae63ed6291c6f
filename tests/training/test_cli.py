"""The train / assist / match / models commands on a tiny snapshot in CONSENTRY_HOME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consentry.cli import app
from consentry.training.fixtures import synthetic_corpus, write_snapshot


@pytest.mark.slow
def test_train_assist_match_and_registry(home: Path, tiny: dict) -> None:
    c = synthetic_corpus(members=16, posts_per_member=2, jobs=12, seed=9)
    for purpose in ("genai_training", "ml_personalization"):
        write_snapshot(home / "snapshots", purpose, "v0001", c["items"], shards=2, interactions=c["interactions"], jobs=c["jobs"])
    r = CliRunner()
    out = r.invoke(app, ["train", "assistant", "--slices", "2", "--config", json.dumps(tiny)])
    assert out.exit_code == 0, out.output
    assert "assistant-0001" in out.output
    out = r.invoke(app, ["assist", "Excited to share", "--length", "30"])
    assert out.exit_code == 0 and "\nExcited to share" in "\n" + out.output
    assert "span(s) of personal data replaced" in out.output
    out = r.invoke(app, ["train", "matcher", "--slices", "2", "--config", '{"encoder": "hashed-bow"}'])
    assert out.exit_code == 0, out.output
    member = sorted(c["fields"])[0]
    out = r.invoke(app, ["match", "--member", member, "-k", "3"])
    assert out.exit_code == 0, out.output
    assert out.output.count(" j00") == 3
    out = r.invoke(app, ["match", "--member", "nobody"])
    assert out.exit_code == 2 and "nobody" in out.output
    out = r.invoke(app, ["models", "list"])
    assert "assistant-0001" in out.output and "matcher-0001" in out.output
    out = r.invoke(app, ["models", "show", "matcher-0001"])
    shown = json.loads(out.output)
    assert shown["snapshot"]["purpose"] == "ml_personalization" and shown["status"] == "live"
    assert r.invoke(app, ["models", "show", "nope"]).exit_code == 2


def test_train_names_an_unusable_base_or_shard(home: Path, tiny: dict) -> None:
    c = synthetic_corpus(members=8, posts_per_member=1, jobs=10, seed=2)
    write_snapshot(home / "snapshots", "genai_training", "v0001", c["items"], shards=2)
    r = CliRunner()
    out = r.invoke(app, ["train", "assistant", "--config", json.dumps({**tiny, "base": "gpt-9"})])
    assert out.exit_code == 2 and "gpt-9" in out.output and "smollm2-135m-instruct" in out.output
    out = r.invoke(app, ["train", "assistant", "--slices", "50", "--config", json.dumps(tiny)])
    assert out.exit_code == 2 and "shard=00" in out.output and "--slices" in out.output
    out = r.invoke(app, ["train", "assistant", "--shard", "7", "--config", json.dumps(tiny)])
    assert out.exit_code == 2 and "no shard 7" in out.output
    out = r.invoke(app, ["train", "assistant", "--config", "{d_model: 3"])
    assert out.exit_code == 2 and "not JSON" in out.output
