"""On a real small snapshot: synth -> build_snapshot -> train -> erase a member -> retrain one shard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consentry.settings import Settings


@pytest.mark.slow
def test_real_snapshot_forget_member_retrains_their_shard(tmp_path: Path, tiny: dict) -> None:
    synth = pytest.importorskip("consentry.network.synth")
    build = pytest.importorskip("consentry.snapshots.build")
    from consentry.forgetting.models import retrain_affected
    from consentry.training.pipeline import train_version

    os.environ.setdefault("CONSENTRY_REDACTION_KEY", "test-key-0123456789")
    net = tmp_path / "network"
    synth.generate(net, members=120, seed=11, progress=False)
    root = tmp_path / "snapshots"
    m = build.build_snapshot(net, "linkedin-2024", "genai_training", "2025-12-01", root, shards=4, workers=1)
    snap = root / "genai_training" / m.version
    s = Settings(home=tmp_path, models_dir=tmp_path / "models", network_dir=net, snapshots_dir=root)
    v1 = train_version("assistant", snap, s.models, config=tiny, n_slices=2, progress=False)
    assert v1["metrics"]["holdout_texts"] > 0
    if (snap / "interactions.parquet").exists():
        mv = train_version("matcher", snap, s.models, config={"encoder": "hashed-bow", "epochs_per_stage": 1},
                           n_slices=2, progress=False)
        assert mv["metrics"]["test_pairs"] > 0 and mv["metrics"]["recall@10"] is not None
    shard = max(v1["shards"], key=lambda x: len(x["members"]))
    member = shard["members"][0]

    gone = {h for h, mm in zip(shard["content_hashes"], shard["item_members"]) if mm == member}
    erase = pytest.importorskip("consentry.forgetting.erase")
    catalog = pytest.importorskip("consentry.snapshots.catalog")
    removal = erase.remove(catalog.load(root, "genai_training", m.version),
                           [erase.Target(reason="erased", members={member})], run_id="r1")
    assert removal is not None and set(removal.shards) == {shard["shard"]}
    changes = retrain_affected([removal], s, verify_options={"samples": 50, "drafts": 1})
    assert {(c.member_id, tuple(c.shards)) for c in changes} == {(member, (shard["shard"],))}
    v2 = next(c.new_version for c in changes if c.model == "assistant")
    from consentry.training.registry import Registry

    new = Registry(s.models).get(v2)
    assert new["timings"]["retrained_shards"] == [shard["shard"]]
    assert gone and not {h for x in new["shards"] for h in x["content_hashes"]} & gone
    assert "membership_inference" in new["verification"]
