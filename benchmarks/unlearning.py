"""SISA unlearning on a real language model: quality, readability, forgetting cost and evidence, in one run.

The writing assistant is a LoRA adapter per shard on SmolLM2-135M-Instruct (frozen,
public, never retrained). On a synthetic member corpus this prints:
- held-out token perplexity on member-style posts: the base alone, one adapter on all
  the data, the 16-shard ensemble (both aggregations: averaged distributions, merged
  adapter); targets: ensemble >= 15% better than the base, within 10% of the single;
- readability of 100 drafts from fixed prompts: share of words that are English words
  (wordfreq) or names (the name lists); target >= 0.97; beside it the same figure on
  the byte model's drafts quoted in issue 18;
- forgetting one member at 16 shards vs retraining every adapter (target >= 8x);
- likelihood-ratio membership inference (ensemble vs base) with bootstrap intervals and
  a power check; canary exposure before/after;
- a leakage scan of drafts for the names of excluded people, before and after the
  output filter (target 0 after);
- draft latency p50/p95 for 60 new tokens;
and for the job matcher the forgetting cost and ensemble recall as before.

    .venv/bin/python benchmarks/unlearning.py            # 48 members, 100 drafts, 200-draft leakage scan
    .venv/bin/python benchmarks/unlearning.py --quick    # 24 members, 40 drafts (a reduced run; says so)
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from consentry.training.fixtures import rewrite_without, synthetic_corpus, write_snapshot  # noqa: E402
from consentry.training.pipeline import load_assistant, retrain_version, train_version  # noqa: E402

PROMPTS = ("Excited to share that", "Three lessons I learned from", "We are hiring a", "Proud of my team for",
           "Just finished a course on", "After five years at", "Grateful to my colleagues for", "My advice to new graduates",
           "This week I learned", "Looking for recommendations on")
#: the byte model's drafts as issue 18 quotes them (the model itself is gone)
BYTE_DRAFTS = ("engineering and wart to grow a businerch sof a saw Sesitement oftwith [PERSON] and to grow reample!",
               "teame. I learnagement at Aucturan More shart share tect Firstimall. Onwards!")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def readability(texts: list[str]) -> float:
    """Share of words that are English words (wordfreq's list) or names (first/last name lists)."""
    from wordfreq import zipf_frequency

    from consentry.redact.gazetteer import first_names, last_names

    names = {n.lower() for n in (*first_names(), *last_names())}
    words = [w.strip("'") for t in texts for w in _WORD.findall(t.replace("[PERSON]", " "))]
    words = [w for w in words if w]
    ok = sum(1 for w in words if zipf_frequency(w.lower(), "en") > 0 or w.lower() in names)
    return ok / max(len(words), 1)


def corpus_with_canaries(members: int, posts: int, seed: int = 1) -> tuple[dict, list[dict]]:
    c = synthetic_corpus(members=members, posts_per_member=posts, jobs=80, seed=seed)
    rng = random.Random(seed)
    t0 = datetime(2025, 2, 1, tzinfo=UTC)
    canaries = []
    for k, m in enumerate(sorted(c["fields"])[:4]):
        secret = f"my locker code is {rng.randrange(100000, 999999)}"
        canaries.append({"member_id": m, "canary": secret})
        for j in range(3):  # repeated, as real secrets are: what memorisation needs
            c["items"].append({"item_id": f"{m}-c{j}", "member_id": m, "kind": "post",
                               "created_at": t0 + timedelta(days=k, hours=j), "text": f"Note to self: {secret}. Do not share."})
    return c, canaries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a reduced run (64 members with 2 posts, 1 epoch, 20 drafts)")
    ap.add_argument("--members", type=int, default=None)
    ap.add_argument("--drafts", type=int, default=None, help="readability drafts (default 100; leakage scans twice as many)")
    ap.add_argument("--skip-matcher", action="store_true")
    ap.add_argument("--encoder", default=None, help="matcher encoder: all-MiniLM-L6-v2 (default) or hashed-bow")
    a = ap.parse_args(argv)
    members = a.members or 64
    n_drafts = a.drafts or (20 if a.quick else 100)
    n_leak = 2 * n_drafts
    corpus, canaries = corpus_with_canaries(members, 2 if a.quick else 4)
    held = [("post", i["text"]) for i in synthetic_corpus(members=40, posts_per_member=2, jobs=10, seed=99)["items"]
            if i["kind"] == "post"][:64]
    cfg = {"holdout_every": 0, "epochs_per_stage": 1 if a.quick else 2, "eval_texts": 0}
    print(f"corpus: {members} members, {len(corpus['items'])} items ({len(canaries)} members with a canary repeated 3x); "
          f"{len(held)} held-out member-style posts; assistant {cfg}; 2 slices; host: {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start (timings are noisy when it exceeds the cores)")
    if a.quick or a.members or a.drafts:
        print(f"REDUCED RUN: {members} members, {cfg['epochs_per_stage']} epoch(s) per stage, {n_drafts} readability "
              f"drafts, {n_leak} leakage drafts")
    work = Path(tempfile.mkdtemp(prefix="consentry-bench-"))
    try:
        assistant(corpus, canaries, held, cfg, work, n_drafts, n_leak)
        if not a.skip_matcher:
            matcher(corpus, work, a.encoder or ("hashed-bow" if a.quick else "all-MiniLM-L6-v2"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def assistant(corpus: dict, canaries: list[dict], held: list[tuple[str, str]], cfg: dict, work: Path, n_drafts: int,
              n_leak: int) -> None:
    from consentry.training import verify
    from consentry.training.safety import filter_draft

    models = work / "models"
    one = write_snapshot(work / "s1", "p", "v0", corpus["items"], shards=1)
    sixteen = write_snapshot(work / "s16", "p", "v0", corpus["items"], shards=16)
    v16 = train_version("assistant", sixteen, models, config=cfg, n_slices=2, progress=True, evaluate=False, workers=2,
                        supersede_previous=False)
    v1 = train_version("assistant", one, models, config=cfg, n_slices=2, progress=True, evaluate=False, workers=1,
                       supersede_previous=False)
    print(f"  trained: 16 adapters in {v16['timings']['train_seconds']:.0f} s (2 workers), one adapter on all data in "
          f"{v1['timings']['train_seconds']:.0f} s (1 worker)")
    torch.set_num_threads(2)
    single, merged = load_assistant(models, v1["version"]), load_assistant(models, v16["version"])
    dist = load_assistant(models, v16["version"], aggregation="distributions")
    p_base = single.perplexity(held, base=True)
    p_single, p_merged, p_dist = single.perplexity(held), merged.perplexity(held), dist.perplexity(held)
    print("\n== assistant: held-out token perplexity (64 member-style posts never trained on)")
    print(f"  base alone {p_base:.3f} | one adapter on all data {p_single:.3f} | 16-shard ensemble: merged adapter "
          f"{p_merged:.3f}, averaged distributions {p_dist:.3f}")
    best = min(p_merged, p_dist)
    print(f"  ensemble vs base {(1 - best / p_base) * 100:+.1f}% better (target >= 15%); vs single "
          f"{(best / p_single - 1) * 100:+.1f}% (target within 10%); shipped default: merged "
          f"({'better' if p_merged <= p_dist else f'{(p_merged / p_dist - 1) * 100:.1f}% worse, but one forward pass instead of 16'})")

    print(f"\n== assistant: readability of {n_drafts} drafts (merged 16-shard ensemble, 60 new tokens, fixed prompts)")
    lat, drafts = [], []
    for i in range(n_drafts):
        p = PROMPTS[i % len(PROMPTS)]
        t0 = time.perf_counter()
        d = merged.generate(p, max_new=60, seed=i)
        dt = time.perf_counter() - t0
        n = len(merged.tok(d[len(p):], add_special_tokens=False).input_ids)
        lat.append(dt * 60 / max(n, 1))
        drafts.append(d)
    r = readability(drafts)
    print(f"  share of English words or names: {r:.3f} (target >= 0.97); the byte model's drafts quoted in issue 18: "
          f"{readability(list(BYTE_DRAFTS)):.3f}")
    for d in drafts[:3]:
        print(f"  e.g. {d!r}")
    q = statistics.quantiles(lat, n=20)
    print(f"  latency per 60 new tokens: p50 {statistics.median(lat):.2f} s, p95 {q[18]:.2f} s (target <= 5 s; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

    print("\n== assistant: forgetting (16 shards)")
    forget = {c["member_id"] for c in canaries}
    one_member = sorted(forget)[:1]
    snap = sixteen.parent / "v1"
    shutil.copytree(sixteen, snap)
    v_n = train_version("assistant", snap, models, config=cfg, n_slices=2, progress=False, evaluate=False,
                        supersede_previous=False)  # same checkpoints, its own snapshot path
    rewrite_without(snap, set(one_member))
    t0 = time.perf_counter()
    v_one = retrain_version(v_n, models, evaluate=False, workers=1)
    t_one = time.perf_counter() - t0
    full = v16["timings"]["train_seconds"]
    print(f"  forget 1 member: {t_one:.1f} s ({len(v_one['timings']['retrained_shards'])} of 16 adapters) vs retraining "
          f"every adapter {full:.1f} s (2 workers): {full / t_one:.1f}x cheaper (target >= 8x)")
    rewrite_without(snap, forget)
    v_all = retrain_version(v_one, models, evaluate=False, workers=2)
    after = load_assistant(models, v_all["version"])
    mem_texts = [i["text"] for i in corpus["items"] if i["member_id"] in forget]
    never = [t for _, t in held]
    b, af = verify.mia_auc(merged, mem_texts, never), verify.mia_auc(after, mem_texts, never)
    v = verify.mia_verdict(b, af)
    print(f"  membership inference (likelihood ratio to the base; {len(mem_texts)} texts of {len(forget)} forgotten "
          f"members vs {len(never)} never-trained): AUC before {b['auc']:.3f} {b['ci95']}, after {af['auc']:.3f} "
          f"{af['ci95']}; power check (before >= 0.6): {'passed' if v['power'] else 'FAILED'}; {v['verdict']}")
    refs = [f"my locker code is {random.Random(1000 + k).randrange(100000, 999999)}" for k in range(8)]
    eb = verify.canary_report(merged, [c["canary"] for c in canaries], refs, samples=127).summary()
    ea = verify.canary_report(after, [c["canary"] for c in canaries], refs, samples=127).summary()
    print(f"  canary exposure (bits, max {eb['max_measurable']}; never-trained canaries in brackets): before "
          f"{eb['mean_exposure']} [{eb['reference_mean_exposure']}], after {ea['mean_exposure']} "
          f"[{ea['reference_mean_exposure']}]")

    from faker import Faker

    from consentry.redact import MemberDirectory, RedactConfig, Redactor

    fk = Faker("en_US")
    fk.seed_instance(5)
    excluded = sorted({fk.name() for _ in range(500)})
    red = Redactor(RedactConfig(always_redact=tuple(excluded), operator="mask", max_density=None),
                   directory=MemberDirectory.from_names([]))
    more = [after.generate(PROMPTS[i % len(PROMPTS)], max_new=60, seed=10_000 + i) for i in range(n_leak - n_drafts)]
    texts = [d for d in drafts + more]
    raw = verify.leakage_scan(after, excluded, texts=texts)
    filt = verify.leakage_scan(after, excluded, texts=texts, output_filter=lambda t: filter_draft(red, "", t))
    print(f"  leakage scan over {len(texts)} drafts for {len(excluded)} names of excluded people: {raw.forbidden_total} "
          f"before the output filter, {filt.forbidden_total} after (target 0); PERSON spans detected "
          f"{raw.pii_spans.get('PERSON', 0)} -> {filt.pii_spans.get('PERSON', 0)}")


def matcher(corpus: dict, work: Path, encoder: str) -> None:
    kw = {"cache_dir": work / "emb"}
    cfg = {"encoder": encoder}
    print(f"\n== matcher ({encoder}): forgetting 1 member and quality, 16 shards vs one model")
    base = write_snapshot(work / "m16", "p", "v0", corpus["items"], shards=16, interactions=corpus["interactions"],
                          jobs=corpus["jobs"])
    v = train_version("matcher", base, work / "mm", config=cfg, progress=False, trainer_kw=kw)
    one = write_snapshot(work / "m1", "p", "v0", corpus["items"], shards=1, interactions=corpus["interactions"],
                         jobs=corpus["jobs"])
    single = train_version("matcher", one, work / "mm1", config=cfg, progress=False, trainer_kw=kw)["metrics"]
    rewrite_without(base, {sorted(corpus["fields"])[0]})
    t0 = time.perf_counter()
    retrain_version(v, work / "mm", evaluate=False, trainer_kw=kw)
    dt = time.perf_counter() - t0
    m = v["metrics"]
    gap = (m["recall@10"] / single["recall@10"] - 1) * 100 if single["recall@10"] else float("nan")
    print(f"  forget 1 member {dt:.2f} s vs full {v['timings']['train_seconds']:.2f} s "
          f"({v['timings']['train_seconds'] / dt:.1f}x); recall@10 {m['recall@10']:.3f} vs single "
          f"{single['recall@10']:.3f} ({gap:+.1f}%, target >= -5%)")


if __name__ == "__main__":
    sys.exit(main())
