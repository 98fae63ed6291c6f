"""Exact unlearning with SISA: only the member's shard is retrained, from its last clean checkpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from consentry.training import sisa
from consentry.training.assistant import AssistantConfig, AssistantTrainer
from consentry.training.data import read_shard
from consentry.training.fixtures import rewrite_without, shard_of
from consentry.training.pipeline import retrain_version, train_version
from consentry.training.registry import LIVE, SUPERSEDED, Registry


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _late_member(snapshot: Path, shard: int, slice_size: int, tiny: dict) -> str:
    """A member of `shard` all of whose items sit after the first slice (so a clean checkpoint exists)."""
    trainer = AssistantTrainer(AssistantConfig(**tiny))
    recs = trainer.records(read_shard(snapshot, shard))
    first = {}
    for pos, r in enumerate(recs):
        first.setdefault(r.member_id, pos)
    late = [m for m, p in first.items() if p >= slice_size]
    assert late, "fixture too small: every member has an item in slice 0"
    return sorted(late)[0]


def test_forgetting_a_member_retrains_exactly_their_shard(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    models = tmp_path / "models"
    v1 = train_version("assistant", snapshot, models, config=tiny, n_slices=3, progress=False, evaluate=False)
    shard = 1
    member = _late_member(snapshot, shard, v1["shards"][shard]["slice_size"], tiny)
    assert shard_of(member, 4) == shard
    ckdir = models / "checkpoints" / "assistant"
    before = {f.name: _digest(f) for f in ckdir.glob("*.pt")}
    forgotten_hashes = {
        h for s in v1["shards"] for h, i in zip(s["content_hashes"], s["items"]) if i.startswith(member)
    }
    assert forgotten_hashes

    rewrite_without(snapshot, {member})
    v2 = retrain_version(v1, models, evaluate=False)

    assert v2 is not None and v2["timings"]["retrained_shards"] == [shard]
    old = {s["shard"]: s for s in v1["shards"]}
    for s in v2["shards"]:
        if s["shard"] != shard:
            assert s == old[s["shard"]]  # same chain, same checkpoint names
    for name, digest in before.items():  # nothing already written was touched
        assert _digest(ckdir / name) == digest
    new = next(s for s in v2["shards"] if s["shard"] == shard)
    assert new["resumed_from_stage"] >= 0 and new["trained_stages"]
    assert member not in new["members"]
    # registry lineage of the new version holds none of the member's data
    assert not forgotten_hashes & {h for s in v2["shards"] for h in s["content_hashes"]}
    reg = Registry(models)
    assert reg.get(v1["version"])["status"] == SUPERSEDED
    assert reg.get(v2["version"])["status"] == LIVE and v2["parent"] == v1["version"]
    assert [v["version"] for v in reg.live("assistant")] == [v2["version"]]
    # nothing changed on disk -> nothing to retrain
    assert retrain_version(v2, models, evaluate=False) is None


def test_resume_from_clean_checkpoint_equals_training_from_scratch(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    trainer = AssistantTrainer(AssistantConfig(**tiny))
    trainer.setup(tmp_path / "ck", seed=7)
    shard = 2
    recs = trainer.records(read_shard(snapshot, shard))
    size = -(-len(recs) // 3)
    member = _late_member(snapshot, shard, size, tiny)
    ck = tmp_path / "ck"
    full = sisa.train_shard(trainer, recs, shard=shard, seed=7, n_slices=3, ckpt_dir=ck)
    remaining = [r for r in recs if r.member_id != member]

    resumed = sisa.train_shard(trainer, remaining, shard=shard, seed=7, n_slices=3, ckpt_dir=ck, slice_size=full.slice_size)
    scratch = sisa.train_shard(
        trainer, remaining, shard=shard, seed=7, n_slices=3, ckpt_dir=tmp_path / "fresh", slice_size=full.slice_size
    )
    assert resumed.resumed_from_stage >= 0 and scratch.resumed_from_stage == -1
    assert resumed.data_hash == scratch.data_hash != full.data_hash
    a = torch.load(ck / resumed.final_checkpoint, weights_only=True)["adapter"]
    b = torch.load(tmp_path / "fresh" / scratch.final_checkpoint, weights_only=True)["adapter"]
    c = torch.load(ck / full.final_checkpoint, weights_only=True)["adapter"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # bitwise
    assert not all(torch.equal(a[k], c[k]) for k in a)  # and the member's data did matter


def test_slices_before_a_removal_keep_their_hashes() -> None:
    recs = [sisa.Record(key=f"h{i}", item_id=f"i{i}", member_id=f"m{i % 5}") for i in range(20)]
    slices, size = sisa.make_slices(recs, 4)
    _, chain = sisa.chain_hashes(slices, "base")
    cleaned = [r for r in recs if r.item_id != "i12"]
    slices2, _ = sisa.make_slices(cleaned, 4, size)
    _, chain2 = sisa.chain_hashes(slices2, "base")
    assert chain2[:2] == chain[:2] and chain2[2] != chain[2]
    assert sum(map(len, slices2)) == 19


@pytest.mark.slow
def test_parallel_shards_give_the_same_checkpoints(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    cfg = tiny  # workers load the shared base too
    a = train_version("assistant", snapshot, tmp_path / "a", config=cfg, n_slices=2, progress=False, evaluate=False)
    b = train_version("assistant", snapshot, tmp_path / "b", config=cfg, n_slices=2, progress=False, evaluate=False,
                      workers=2)
    assert [s["data_hash"] for s in a["shards"]] == [s["data_hash"] for s in b["shards"]]
    for s in a["shards"]:
        name = s["slices"][-1]["checkpoint"]
        wa = torch.load(tmp_path / "a" / "checkpoints" / "assistant" / name, weights_only=True)["adapter"]
        wb = torch.load(tmp_path / "b" / "checkpoints" / "assistant" / name, weights_only=True)["adapter"]
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
