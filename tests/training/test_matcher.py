"""The job matcher: per-shard heads over frozen embeddings, forgettable per shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from consentry.forgetting.models import retrain_affected
from consentry.settings import Settings
from consentry.training.fixtures import rewrite_without, shard_of
from consentry.training.matcher import MatcherConfig, MatcherTrainer, recommend
from consentry.training.pipeline import checkpoint_paths, train_version
from consentry.training.registry import Registry

BOW = {"encoder": "hashed-bow", "epochs_per_stage": 3}


def test_matcher_forgets_a_member_in_one_shard_and_drops_their_embedding(snapshot: Path, tmp_path: Path) -> None:
    s = Settings(home=tmp_path, models_dir=tmp_path / "models", network_dir=tmp_path / "none")
    v1 = train_version("matcher", snapshot, s.models, config=BOW, n_slices=2, progress=False,
                       trainer_kw={"cache_dir": s.models / "embeddings"})
    m = v1["metrics"]
    assert m["test_pairs"] > 0 and 0 <= m["recall@10"] <= 1 and m["base_recall@10"] is not None
    member = sorted(v1["shards"][0]["members"])[0]
    cache = next((s.models / "embeddings").glob("*.parquet"))
    n_vectors = pq.read_table(cache).num_rows

    shards = rewrite_without(snapshot, {member})
    changes = retrain_affected([{"purpose": "genai_training", "version": "v0001", "members": [member], "shards": shards}], s)
    assert [(c.member_id, c.model, c.shards) for c in changes] == [(member, "matcher", [shard_of(member, 4)])]
    v2 = Registry(s.models).latest_live("matcher")
    assert v2["timings"]["retrained_shards"] == [shard_of(member, 4)]
    assert all(member not in sh["members"] for sh in v2["shards"])
    assert pq.read_table(cache).num_rows == n_vectors - 1  # their profile embedding is gone
    trainer = MatcherTrainer(MatcherConfig(**BOW), cache_dir=s.models / "embeddings")
    with pytest.raises(KeyError):
        recommend(trainer, checkpoint_paths(v2, s.models), snapshot, member)
    other = sorted(v2["shards"][1]["members"])[0]
    top = recommend(trainer, checkpoint_paths(v2, s.models), snapshot, other, k=5)
    assert len(top) == 5 and [x[1] for x in top] == sorted((x[1] for x in top), reverse=True)


def test_injected_embedder_is_used(snapshot: Path) -> None:
    calls = []

    def fake(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

    tr = MatcherTrainer(embed_fn=fake)
    recs = tr.prepare(snapshot)
    assert calls and tr.data.jobs.shape[1] == 8 and sum(map(len, recs.values())) > 0


@pytest.mark.slow
def test_real_minilm_encoder_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from consentry.training.matcher import minilm

    v = minilm(["data engineer with Spark and SQL", "senior data engineer, Spark", "ICU nurse, night shifts"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
