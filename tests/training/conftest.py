"""Tiny snapshots in the documented layout, written from hand-made Arrow tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentry.training.fixtures import synthetic_corpus, write_snapshot

TINY = {"base": "tiny", "lora_r": 4, "lora_alpha": 8, "max_tokens": 160, "lr": 0.02, "batch_size": 8,
        "epochs_per_stage": 2, "holdout_every": 10, "eval_texts": 16}  # a random tiny Llama, same transformers+peft path


@pytest.fixture
def tiny() -> dict:
    """Adapters on a random tiny Llama: a shard trains in about a second."""
    return dict(TINY)


@pytest.fixture
def corpus() -> dict:
    return synthetic_corpus(members=24, posts_per_member=2, jobs=20, seed=3)


@pytest.fixture
def snapshot(tmp_path: Path, corpus: dict) -> Path:
    return write_snapshot(tmp_path / "snapshots", "genai_training", "v0001", corpus["items"], shards=4,
                          interactions=corpus["interactions"], jobs=corpus["jobs"])
