"""The writing assistant's shared public base: no member data, trained once, in every checkpoint key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from consentry.training import sisa
from consentry.training.assistant import AssistantConfig, AssistantTrainer
from consentry.training.corpora import CorpusError, corpus_hash, public_corpus
from consentry.training.data import read_shard
from consentry.training.fixtures import rewrite_without
from consentry.training.pipeline import retrain_version, train_version


def _with_base(tiny: dict, corpus: str = "python-docs", steps: int = 12) -> dict:
    return {**tiny, "base_corpus": corpus, "base_steps": steps}


def _corpus_file(path: Path, words: str) -> Path:
    path.write_text("\n\n".join(f"Paragraph {i}: {words} in public text that anyone may read." for i in range(30)))
    return path


def test_the_base_is_pretrained_once_recorded_and_reused(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    models = tmp_path / "models"
    v1 = train_version("assistant", snapshot, models, config=_with_base(tiny), n_slices=2, progress=False, evaluate=False)
    base = v1["base"]
    assert base["corpus"] == "python-docs" and base["contains_member_data"] is False
    assert base["corpus_hash"] == corpus_hash(public_corpus("python-docs"))
    files = list((models / "checkpoints" / "assistant").glob("base-*.pt"))
    assert [f.name for f in files] == [base["checkpoint"]]
    assert v1["timings"]["base_seconds"] > 0
    stamp = files[0].stat().st_mtime_ns

    v2 = train_version("assistant", snapshot, models, config=_with_base(tiny), n_slices=2, progress=False, evaluate=False)
    assert v2["timings"]["base_seconds"] == 0.0 and v2["base"] == base
    assert [s["data_hash"] for s in v2["shards"]] == [s["data_hash"] for s in v1["shards"]]

    member = v2["shards"][0]["members"][0]
    rewrite_without(snapshot, {member})
    v3 = retrain_version(v2, models, evaluate=False)
    assert v3 is not None and v3["base"] == base and v3["timings"]["retrained_shards"] == [0]
    assert files[0].stat().st_mtime_ns == stamp  # forgetting never retrains the base


def test_every_constituent_starts_from_the_base(tmp_path: Path, tiny: dict) -> None:
    trainer = AssistantTrainer(AssistantConfig(**_with_base(tiny)))
    trainer.setup(tmp_path, seed=5)
    base = torch.load(tmp_path / trainer.base["checkpoint"], weights_only=True)["model"]
    for shard in (0, 3):
        w = trainer.init_state(shard, 5)["model"].state_dict()
        assert all(torch.equal(w[k], base[k]) for k in base)
    scratch = AssistantTrainer(AssistantConfig(**tiny)).init_state(0, 5)["model"].state_dict()
    assert not all(torch.equal(scratch[k], base[k]) for k in base)


def test_untrained_without_setup_fails_clearly(tiny: dict) -> None:
    with pytest.raises(RuntimeError, match="setup"):
        AssistantTrainer(AssistantConfig(**_with_base(tiny))).init_state(0, 1)


def test_the_base_corpus_enters_every_checkpoint_key(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    a = _corpus_file(tmp_path / "a.txt", "engineers write about data")
    b = _corpus_file(tmp_path / "b.txt", "nurses write about patients")
    hashes = []
    for cfg in (tiny, _with_base(tiny, str(a)), _with_base(tiny, str(b))):
        v = train_version("assistant", snapshot, tmp_path / "models", config=cfg, n_slices=2, progress=False,
                          evaluate=False)
        hashes.append({s["data_hash"] for s in v["shards"]})
    assert not hashes[0] & hashes[1] and not hashes[1] & hashes[2] and not hashes[0] & hashes[2]


def test_resume_with_a_base_equals_training_from_scratch(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    cfg = AssistantConfig(**_with_base(tiny))
    recs = AssistantTrainer(cfg).records(read_shard(snapshot, 1))
    first: dict[str, int] = {}
    for pos, r in enumerate(recs):
        first.setdefault(r.member_id, pos)
    gone = max(first, key=first.get)  # the member who appears last: earlier slices stay clean
    remaining = [r for r in recs if r.member_id != gone]
    runs = []
    for ck in (tmp_path / "ck", tmp_path / "ck", tmp_path / "fresh"):  # full, resumed, fresh (base trained again)
        tr = AssistantTrainer(cfg)
        tr.setup(ck, seed=9)
        data = recs if not runs else remaining
        size = runs[0][0].slice_size if runs else None
        r = sisa.train_shard(tr, data, shard=1, seed=9, n_slices=3, ckpt_dir=ck, slice_size=size)
        runs.append((r, torch.load(ck / r.final_checkpoint, weights_only=True)["model"]))
    (full, wf), (resumed, wr), (fresh, wx) = runs
    assert resumed.resumed_from_stage >= 0 and fresh.resumed_from_stage == -1
    assert resumed.data_hash == fresh.data_hash != full.data_hash
    assert all(torch.equal(wr[k], wx[k]) for k in wr)


@pytest.mark.parametrize("bad, message", [("missing.txt", "no such file"), ("short.txt", "no paragraph")])
def test_an_unusable_corpus_is_named(tmp_path: Path, bad: str, message: str) -> None:
    (tmp_path / "short.txt").write_text("too short\n\nalso short")
    with pytest.raises(CorpusError, match=message) as err:
        public_corpus(str(tmp_path / bad))
    assert bad in str(err.value)
