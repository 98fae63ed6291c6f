"""Tiny snapshots in the documented layout, written from hand-made Arrow tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentry.training.fixtures import synthetic_corpus, write_snapshot

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "context": 96, "lr": 0.01, "batch_size": 8,
        "epochs_per_stage": 2, "min_steps_per_stage": 0, "weight_decay": 0.0, "holdout_every": 10,
        "dropout": 0.0, "base_corpus": None}  # no public base: tests of the base set their own


@pytest.fixture
def tiny() -> dict:
    """A model small enough to train a shard in a fraction of a second."""
    return dict(TINY)


@pytest.fixture
def corpus() -> dict:
    return synthetic_corpus(members=24, posts_per_member=2, jobs=20, seed=3)


@pytest.fixture
def snapshot(tmp_path: Path, corpus: dict) -> Path:
    return write_snapshot(tmp_path / "snapshots", "genai_training", "v0001", corpus["items"], shards=4,
                          interactions=corpus["interactions"], jobs=corpus["jobs"])
