"""The frozen public base: identified by its file hash, cached as safetensors, refused when it is not the one trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from consentry.training import base as B
from consentry.training.assistant import AssistantConfig, AssistantTrainer, Ensemble, instruction
from consentry.training.pipeline import ShardDataError, checkpoint_paths, load_assistant, retrain_version, train_version
from consentry.training.registry import Registry


def _fake_gguf(tmp_path: Path, payload: bytes = b"GGUF\x03\x00\x00\x00 not really a model") -> Path:
    f = tmp_path / B.GGUF_FILE
    f.write_bytes(payload)
    return f


def test_a_missing_gguf_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(B.BaseModelError, match="missing; reinstall") as err:
        B.load_base(B.SMOLLM2, tmp_path / "cache", gguf=tmp_path / "nowhere" / B.GGUF_FILE)
    assert B.GGUF_FILE in str(err.value) and "pip install" in str(err.value)


def test_a_truncated_gguf_is_named_with_the_fix(tmp_path: Path) -> None:
    try:
        real = B.gguf_path()
        payload = real.read_bytes()[: 1 << 16]  # the real header, cut short
    except B.BaseModelError:
        payload = b"GGUF\x03\x00\x00\x00"
    f = _fake_gguf(tmp_path, payload)
    with pytest.raises(B.BaseModelError, match="not a readable GGUF") as err:
        B.load_base(B.SMOLLM2, tmp_path / "cache", gguf=f)
    assert str(f) in str(err.value) and "--force-reinstall" in str(err.value)
    assert not list((tmp_path / "cache").glob("base-*")) if (tmp_path / "cache").exists() else True


def test_a_base_whose_hash_differs_from_the_registry_is_refused(tmp_path: Path) -> None:
    f = _fake_gguf(tmp_path)
    with pytest.raises(B.BaseModelError, match="differs from the registry's"):
        B.load_base(B.SMOLLM2, tmp_path / "cache", gguf=f, expected_sha256="0" * 64)


@pytest.mark.parametrize("damage, message", [
    ("truncated", "unreadable base cache"),
    ("mismatched", "cache of base"),
    ("malformed", "malformed"),
])
def test_a_damaged_cache_is_named_with_the_fix(tmp_path: Path, damage: str, message: str) -> None:
    f = _fake_gguf(tmp_path)
    sha = B.file_sha256(f)
    d = tmp_path / "cache" / f"base-{sha[:16]}"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":")  # cut short
    meta = {"truncated": {"sha256": sha}, "mismatched": {"sha256": "f" * 64}}.get(damage)
    (d / "base.json").write_text(json.dumps(meta) if meta else "{not json")
    with pytest.raises(B.BaseModelError, match=message) as err:
        B.load_base(B.SMOLLM2, tmp_path / "cache", gguf=f)
    assert f"delete {d}" in str(err.value)


def test_the_registry_names_the_base_and_a_forget_keeps_it(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    from consentry.training.fixtures import rewrite_without

    models = tmp_path / "models"
    v1 = train_version("assistant", snapshot, models, config=tiny, n_slices=2, progress=False, evaluate=False)
    assert v1["base"] == {**B.describe("tiny").to_dict()} and v1["base"]["contains_member_data"] is False
    member = v1["shards"][0]["members"][0]
    rewrite_without(snapshot, {member})
    v2 = retrain_version(v1, models, evaluate=False)
    assert v2 is not None and v2["base"] == v1["base"] and v2["timings"]["retrained_shards"] == [0]
    # a version recorded against another base file is refused, never silently loaded
    reg = Registry(models)
    reg.update(v2["version"], base={**v2["base"], "sha256": "1" * 64})
    with pytest.raises(B.BaseModelError, match="differs from the registry's"):
        load_assistant(models)


def test_checkpoints_hold_only_the_adapter(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    v = train_version("assistant", snapshot, tmp_path / "m", config=tiny, n_slices=2, progress=False, evaluate=False)
    sd = torch.load(checkpoint_paths(v, tmp_path / "m")[0], weights_only=True)["adapter"]
    assert sd and all("lora_" in k for k in sd)


def test_merged_adapter_is_exactly_the_mean_of_the_shard_deltas(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    v = train_version("assistant", snapshot, tmp_path / "m", config=tiny, n_slices=2, progress=False, evaluate=False)
    ens = load_assistant(tmp_path / "m")
    assert ens.merged is not None
    checked = 0
    for mod in ens.peft.modules():
        if hasattr(mod, "lora_A") and ens.merged in mod.lora_A:
            deltas = [mod.lora_B[a].weight @ mod.lora_A[a].weight * mod.scaling[a] for a in ens.adapters]
            merged = mod.lora_B[ens.merged].weight @ mod.lora_A[ens.merged].weight * mod.scaling[ens.merged]
            assert torch.allclose(merged, torch.stack(deltas).mean(0), atol=1e-6)
            checked += 1
    assert checked and len(ens.adapters) == len(v["shards"])
    # the other aggregation averages distributions: a proper perplexity, close to the merged one on a tiny model
    dist = load_assistant(tmp_path / "m", aggregation="distributions")
    pairs = [("post", "Excited to share that I started a new job")]
    assert dist.perplexity(pairs) > 1 and ens.perplexity(pairs) > 1
    assert dist.generate("We are hiring", max_new=5).startswith("We are hiring")


def test_instructions_come_from_kind_and_topic_never_a_member(snapshot: Path, tiny: dict) -> None:
    from consentry.training.data import read_shard

    recs = AssistantTrainer(AssistantConfig(**tiny)).records(read_shard(snapshot, 0))
    assert recs
    for r in recs:
        ins = instruction(*r.payload)
        assert r.member_id not in ins and ins.startswith("Write a LinkedIn ")
    assert instruction("post", "We are hiring a nurse, message Jane Roe") == "Write a LinkedIn post about hiring."


def test_one_shard_at_a_time_registers_when_the_last_is_done(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    models = tmp_path / "models"
    for k in range(3):
        r = train_version("assistant", snapshot, models, config=tiny, n_slices=2, progress=False, evaluate=False,
                          only_shards=[k])
        assert r["registered"] is False and r["trained"] == [k] and 3 in r["missing"]
        assert Registry(models).versions() == []  # nothing half trained is live
    v = train_version("assistant", snapshot, models, config=tiny, n_slices=2, progress=False, evaluate=False,
                      only_shards=[3])
    assert v["version"] == "assistant-0001" and len(v["shards"]) == 4
    assert all(s["trained_stages"] == [] for s in v["shards"])  # assembled from the shards' checkpoints


def test_a_shard_with_too_few_posts_is_named(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    with pytest.raises(ShardDataError, match=r"shard=\d\d: \d+ trainable item\(s\), fewer than the 500 slices"):
        train_version("assistant", snapshot, tmp_path / "m", config=tiny, n_slices=500, progress=False)
    assert Registry(tmp_path / "m").versions() == []


def test_drafts_pass_the_output_filter(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from consentry.settings import Settings
    from consentry.training.safety import draft_redactor, filter_draft

    (tmp_path / "network").mkdir()
    pq.write_table(pa.table({"member_id": ["m1"], "display_name": ["Ana Silvaneto"], "handle": ["anasil"]}),
                   tmp_path / "network" / "members.parquet")
    red = draft_redactor(Settings(home=tmp_path, network_dir=tmp_path / "network"))
    text, n = filter_draft(red, "Thanks to", "Thanks to Ana Silvaneto and @anasil for the launch")
    assert n == 2 and "Silvaneto" not in text and "anasil" not in text and text.startswith("Thanks to")
    assert filter_draft(red, "Hello", "Hello world, great week")[1] == 0


@pytest.mark.slow
def test_the_real_base_loads_from_its_cache_and_writes_english(tmp_path: Path) -> None:
    try:
        gguf = B.gguf_path()
    except B.BaseModelError as exc:
        pytest.skip(str(exc))
    cache = B.default_cache_dir()
    model, tok, info = B.load_base(B.SMOLLM2)
    assert info.sha256 == B.file_sha256(gguf) and info.licence == "Apache-2.0"
    assert (cache / f"base-{info.sha256[:16]}" / "model.safetensors").exists()
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        nxt = tok.decode(model(ids).logits[0, -1].argmax())
    assert nxt.strip() == "Paris"
    assert isinstance(Ensemble, type)
