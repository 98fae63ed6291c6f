"""The main job (`make demo`): every stage runs and prints its figures, on a small network."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from consentry.demo import DemoError, DemoOptions, run
from consentry.settings import Settings


def _run(home: Path, **kw) -> tuple[dict, str]:
    buf = io.StringIO()
    out = run(Settings(home=home), DemoOptions(members=300, seed=3, **kw), Console(file=buf, width=160))
    return out, buf.getvalue()


def test_demo_refuses_a_home_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("someone's data")
    with pytest.raises(DemoError, match="did not create"):
        _run(tmp_path, train=False)
    assert (tmp_path / "precious.txt").read_text() == "someone's data"


def test_demo_without_training_decides_snapshots_and_erases(tmp_path: Path) -> None:
    out, text = _run(tmp_path, train=False)
    for heading in ("under linkedin-2024", "under strict", "2024-06-01", "2025-12-01", "region_prohibited"):
        assert heading in text
    assert out["verify_erasure_ok"]
    assert set(out["snapshots"]) == {"genai_training/v0001", "genai_training/v0002"}
    assert out["member_link"].startswith("http://127.0.0.1:8000/signin?token=")
    # a second run resets the demo's own state and reproduces the same snapshots
    again, _ = _run(tmp_path, train=False)
    assert set(again["snapshots"]) == set(out["snapshots"])


@pytest.mark.slow
def test_demo_trains_forgets_and_verifies(tmp_path: Path) -> None:
    tiny = {"base": "tiny", "lora_r": 4, "lora_alpha": 8, "max_tokens": 160}  # the same path on a random tiny Llama
    out, text = _run(tmp_path, assistant_config=tiny, matcher_config={"encoder": "hashed-bow"}, forget_members=2)
    assert "perplexity" in out["trained"]["assistant"]["metrics"]
    models = {s["model"]: s for s in out["forget_models"]}
    assert set(models) == {"assistant", "matcher"}
    for s in models.values():  # only the forgotten members' shards retrain
        assert 1 <= len(s["shards_retrained"]) <= 2 < s["shards_total"]
    assert "Forgetting in the models" in text
    assert len(out["drafts"]["before"]) == len(out["drafts"]["after"]) == 3 and "Drafts before" in text
    assert "membership inference (likelihood ratio" in text and "after the output filter" in text
