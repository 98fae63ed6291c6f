"""SISA unlearning cost and quality: forgetting N members vs full retraining, ensemble vs one model.

For 8 and 16 shards: wall time to forget 1, 10 and 100 members (retrain affected
shards from their last clean checkpoint) against training all shards from scratch,
as a ratio measured in the same run; and the quality gap of the sharded ensemble
against one model trained on all the data (byte perplexity for the writing
assistant, recall@10 for the job matcher). Targets (issue 5): forget one member
>= 8x cheaper than full retraining at 16 shards; ensemble perplexity within 10%;
matcher recall@10 within 5%.

Every assistant (each shard, and the single model) starts from the same public base
(`training.corpora`), pretrained once and reused: it holds no member's data, so
neither forgetting nor a full retraining for erasure would retrain it; its time is
printed on its own and counted in neither column.

    .venv/bin/python benchmarks/unlearning.py --quick
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from consentry.training.fixtures import rewrite_without, synthetic_corpus, write_snapshot  # noqa: E402
from consentry.training.pipeline import retrain_version, train_version  # noqa: E402


def forget_costs(kind: str, corpus: dict, shards: int, work: Path, counts: list[int], cfg: dict, kw: dict) -> dict:
    base = write_snapshot(work / kind / f"s{shards}" / "snapshots", "p", "v0", corpus["items"], shards=shards,
                          interactions=corpus["interactions"], jobs=corpus["jobs"])
    models = work / kind / "models"  # one registry: the public base is pretrained once for every run
    v = train_version(kind, base, models, config=cfg, progress=False, trainer_kw=kw)
    full = v["timings"]["train_seconds"]  # reading, slicing, hashing and training every shard; not evaluation
    out = {"full": full, "forget": {}, "metrics": v["metrics"]}
    members = sorted(corpus["fields"])
    for n in counts:
        if n > len(members):
            continue
        snap = base.parent / f"v{n}"
        shutil.copytree(base, snap)
        v_n = train_version(kind, snap, models, config=cfg, progress=False, evaluate=False, trainer_kw=kw)  # reuses checkpoints
        gone = set(random.Random(n).sample(members, n))
        rewrite_without(snap, gone)
        t0 = time.perf_counter()
        v2 = retrain_version(v_n, models, evaluate=False, trainer_kw=kw)  # reads, hashes and retrains
        dt = time.perf_counter() - t0
        out["forget"][n] = {"seconds": dt, "shards": len(v2["timings"]["retrained_shards"]) if v2 else 0}
    out["version"] = v
    return out


def quality(kind: str, corpus: dict, shards: int, work: Path, cfg: dict, kw: dict) -> dict:
    snap = write_snapshot(work / kind / f"q{shards}" / "snapshots", "p", "v0", corpus["items"], shards=shards,
                          interactions=corpus["interactions"], jobs=corpus["jobs"])
    return train_version(kind, snap, work / kind / "models", config=cfg, progress=False, trainer_kw=kw)["metrics"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small corpus and model (about a minute)")
    ap.add_argument("--members", type=int, default=None)
    ap.add_argument("--encoder", default=None, help="matcher encoder: all-MiniLM-L6-v2 (default) or hashed-bow")
    ap.add_argument("--skip-matcher", action="store_true")
    a = ap.parse_args(argv)
    members = a.members or (150 if a.quick else 600)
    encoder = a.encoder or ("hashed-bow" if a.quick else "all-MiniLM-L6-v2")
    acfg = {"d_model": 48, "n_layers": 1, "n_heads": 2, "context": 128, "epochs_per_stage": 1, "min_steps_per_stage": 20,
            "base_steps": 300} if a.quick else {}
    counts = [1, 10, 100]
    corpus = synthetic_corpus(members=members, posts_per_member=4, jobs=80, seed=1)
    print(f"corpus: {members} members, {len(corpus['items'])} items, {len(corpus['interactions'])} interactions; "
          f"assistant config {acfg or 'default'}; matcher encoder {encoder}; torch threads 1")
    work = Path(tempfile.mkdtemp(prefix="consentry-bench-"))
    try:
        kinds = [("assistant", acfg, {})]
        if not a.skip_matcher:
            kinds.append(("matcher", {"encoder": encoder}, {"cache_dir": work / "emb"}))
        for kind, cfg, kw in kinds:
            print(f"\n== {kind}: forgetting cost (wall seconds, same run)")
            print(f"{'shards':>6} {'full retrain':>12} " + " ".join(f"{'forget ' + str(n):>16}" for n in counts))
            metrics = {}
            for shards in (8, 16):
                r = forget_costs(kind, corpus, shards, work, counts, cfg, kw)
                metrics[shards] = r["metrics"]
                cells = []
                for n in counts:
                    f = r["forget"].get(n)
                    cells.append(f"{f['seconds']:6.2f}s {r['full'] / f['seconds']:5.1f}x/{f['shards']:>2}sh" if f else f"{'n/a':>16}")
                print(f"{shards:>6} {r['full']:11.2f}s " + " ".join(f"{c:>16}" for c in cells))
                base, t = r["version"].get("base"), r["version"]["timings"]
                if base and t.get("base_seconds"):
                    print(f"{'':>6} shared public base ({base['corpus']}, {base['paragraphs']} paragraphs, "
                          f"{base['bytes'] / 1e3:.0f} kB, {base['steps']} steps) pretrained once in "
                          f"{t['base_seconds']:.1f}s: no member data, never retrained, in neither column")
            print(f"== {kind}: quality, sharded ensemble vs one model on all data")
            single = quality(kind, corpus, 1, work, cfg, kw)
            for shards in (8, 16):
                m = metrics[shards]
                if kind == "assistant":
                    gap = (m["perplexity"] / single["perplexity"] - 1) * 100
                    print(f"  {shards:>2} shards: perplexity {m['perplexity']:.3f} vs single {single['perplexity']:.3f} "
                          f"({gap:+.1f}%, target <= +10%)")
                else:
                    gap = (m["recall@10"] / single["recall@10"] - 1) * 100 if single["recall@10"] else float("nan")
                    print(f"  {shards:>2} shards: recall@10 {m['recall@10']:.3f} ndcg@10 {m['ndcg@10']:.3f} vs single "
                          f"{single['recall@10']:.3f}/{single['ndcg@10']:.3f} ({gap:+.1f}%, target >= -5%); "
                          f"embeddings alone {m['base_recall@10']:.3f}/{m['base_ndcg@10']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
