"""Forgetting members through `forgetting.models.retrain_affected`, verified on the model."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consentry.forgetting.models import retrain_affected, summarize
from consentry.settings import Settings
from consentry.training.fixtures import rewrite_without, shard_of, synthetic_corpus, write_snapshot
from consentry.training.pipeline import load_assistant, train_version
from consentry.training.registry import Registry


def _canary(rng: random.Random) -> str:
    return f"my locker code is {rng.randrange(100000, 999999)}"


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A snapshot whose members include six with a planted canary, and the export's ground truth."""
    rng = random.Random(11)
    c = synthetic_corpus(members=30, posts_per_member=2, jobs=10, seed=5)
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    canary_members = [f"m{i:05d}" for i in range(6)]
    canaries = []
    for k, m in enumerate(canary_members):
        secret = _canary(rng)
        canaries.append({"member_id": m, "item_id": f"{m}-c", "canary": secret})
        c["items"].append({"item_id": f"{m}-c", "member_id": m, "kind": "post", "created_at": t0 + timedelta(days=k),
                           "text": f"Note to self: {secret}. Do not share this."})
    refs = [_canary(rng) for _ in range(12)]
    snap = write_snapshot(tmp_path / "snapshots", "genai_training", "v0001", c["items"], shards=4)
    net = tmp_path / "network"
    (net / "truth").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{k: i[k] for k in ("item_id", "member_id", "text")} for i in c["items"]]),
                   net / "items.parquet")
    pq.write_table(pa.Table.from_pylist([{"member_id": m, "display_name": f"Person {m}", "is_member": True}
                                         for m in c["fields"]]), net / "members.parquet")
    pq.write_table(pa.Table.from_pylist(canaries), net / "truth" / "canaries.parquet")
    pq.write_table(pa.table({"canary": refs}), net / "truth" / "canaries_reference.parquet")
    settings = Settings(home=tmp_path, models_dir=tmp_path / "models", network_dir=net)
    return {"snap": snap, "settings": settings, "forget": canary_members}


@pytest.mark.slow
def test_canary_exposure_falls_to_never_trained_level(world: dict, tiny: dict) -> None:
    s: Settings = world["settings"]
    cfg = {**tiny, "lora_r": 16, "lora_alpha": 32, "epochs_per_stage": 12, "holdout_every": 0,
           "target_modules": ["q_proj", "v_proj", "up_proj", "down_proj"],  # strong memorisation
           "aggregation": "distributions"}  # measured through SISA's exact aggregation (a merged delta dilutes it K-fold)
    v1 = train_version("assistant", world["snap"], s.models, config=cfg, n_slices=2, progress=False, evaluate=False)
    forget = set(world["forget"])
    shards = rewrite_without(world["snap"], forget)
    changes = retrain_affected([{"purpose": "genai_training", "version": "v0001", "members": forget, "shards": shards}], s,
                               verify_options={"samples": 100, "drafts": 2})

    assert {c.member_id for c in changes} == forget
    assert all(c.shards == [shard_of(c.member_id, 4)] and c.items_unlearned == 4 for c in changes)
    v2 = Registry(s.models).latest_live("assistant")
    assert v2["parent"] == v1["version"] and sorted(v2["timings"]["retrained_shards"]) == sorted(set(shards))
    ver = v2["verification"]["canaries"]
    before, after = ver["before"], ver["after"]
    assert before["canaries"] == 6
    # memorised before: far above what the same model gives canaries it never saw
    assert before["mean_exposure"] > before["reference_mean_exposure"] + 3
    # after forgetting: at the never-trained level (within noise of a mean of 6 draws)
    assert after["mean_exposure"] < after["reference_mean_exposure"] + 1.5
    assert after["mean_exposure"] < before["mean_exposure"] - 3
    # the superseded version's checkpoints holding the canaries are gone; the live model loads
    with pytest.raises(FileNotFoundError):
        load_assistant(s.models, v1["version"])
    assert load_assistant(s.models).generate("Note to self:", max_new=20)
    (line,) = summarize(changes, s)
    assert line["members"] == 6 and line["old_version"] == v1["version"] and line["speedup"] > 0


def test_changes_accept_erase_removals_and_dicts() -> None:
    from types import SimpleNamespace

    from consentry.forgetting.models import SnapshotChange

    tomb = pa.table({"item_id": ["i1", "i2"], "member_id": ["m1", "m1"], "content_hash": ["h1", "h2"]})
    r = SnapshotChange.coerce(SimpleNamespace(purpose="genai_training", version="v1", items=tomb, shards=[3]))
    assert (r.members, r.items, r.shards) == ({"m1"}, {"i1", "i2"}, [3])
    d = SnapshotChange.coerce({"purpose": "p", "version": "v", "member_ids": ["m2"], "item_ids": ["x"]})
    assert (d.members, d.items) == ({"m2"}, {"x"})


def test_nothing_to_unlearn_when_the_removed_member_was_never_trained_on(world: dict, tiny: dict) -> None:
    s: Settings = world["settings"]
    train_version("assistant", world["snap"], s.models, config=tiny, n_slices=2, progress=False, evaluate=False)
    assert retrain_affected([{"purpose": "genai_training", "version": "v0001", "members": ["stranger"]}], s) == []
    assert len(Registry(s.models).versions()) == 1


def test_membership_auc_separates_a_memorising_model() -> None:
    from consentry.training.verify import mia_auc

    class Fake:  # the adapters make "seen" texts 1.9 nats/token likelier than the base; others unchanged
        def text_nll(self, texts, base=False):
            return [((2.0 if base or not t.startswith("seen") else 0.1) * len(t), len(t)) for t in texts]

    seen = mia_auc(Fake(), ["seen a", "seen b"], ["new a", "new b"])
    assert seen["auc"] == 1.0 and seen["ci95"][0] == 1.0
    none = mia_auc(Fake(), ["new c", "new d"], ["new a", "new b"])
    assert none["auc"] == 0.5 and none["ci95"][0] <= 0.5 <= none["ci95"][1]
    assert mia_auc(Fake(), [], ["new a"]) is None
    from consentry.training.verify import mia_verdict

    assert mia_verdict(seen, none)["forgotten_like_never_seen"] is True and mia_verdict(seen, none)["power"]
    assert "no power" in mia_verdict(none, none)["verdict"]


def test_canary_candidates_keep_the_format_and_leak_scan_counts_forbidden_strings() -> None:
    from consentry.training.verify import candidates, leakage_scan, split_canary

    prefix, secret = split_canary("my gym PIN is 123456")
    assert (prefix, secret) == ("my gym PIN is ", "123456")
    cs = candidates(secret, 50, seed=1)
    assert len(set(cs)) == 50 and secret not in cs and all(len(c) == 6 and c.isdigit() for c in cs)

    class Parrot:  # always drafts the same post
        def generate(self, prompt, max_new=0, seed=0):
            return prompt + " says Jane Roe, call +1 415 555 0100 or mail jane.roe@example.com"

    rep = leakage_scan(Parrot(), ["Jane Roe", "jane.roe@example.com", "John Doe"], drafts=3)
    assert rep.forbidden_hits == {"Jane Roe": 3, "jane.roe@example.com": 3}
    if rep.detector.startswith("consentry.redact"):
        assert rep.pii_spans.get("EMAIL") == 3


def test_train_all_trains_both_models_and_reports(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    from consentry.training.report import train_all

    s = Settings(home=tmp_path, models_dir=tmp_path / "m")
    rep = train_all(snapshot, s, assistant_config=tiny, matcher_config={"encoder": "hashed-bow", "epochs_per_stage": 1},
                    n_slices=2, progress=False, workers=1)
    assert rep["assistant"]["version"] == "assistant-0001" and rep["assistant"]["metrics"]["perplexity"] > 1
    assert rep["matcher"]["version"] == "matcher-0001" and rep["matcher"]["shards"] == 4
    assert rep["matcher"]["metrics"]["test_pairs"] > 0
