"""Train the PERSON recogniser's weights on public training sections; write package data.

    pip install -e '.[dev]'     # scikit-learn, needed here only
    python -m consentry.redact.train_person --data ../shared/data/pii

Trains on WNUT-17 train and BTC sections A, B and E only (the benchmark evaluates
on WNUT-17 dev, BTC G, the Presidio synthetic set and a synthetic network, never
seen here). The decision thresholds are read off a cross-validated curve on the
training sections, each fold holding out one whole section, never on the evaluation
sets: `balanced` (the default) has the best span-overlap F2; `high_recall` has the
most recall at a precision no lower than Presidio's on the same text (measured
here with the `bench` extra, or given by --peer-precision). Writes
`data/person_model.json` (feature -> weight, pruned; both thresholds) and
`data/common_words.txt` (lowercase words frequent in the training text and never
part of a name).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from consentry.redact.datasets import Example, read_conll
from consentry.redact.peer import PEER_NAME
from consentry.vocab import PiiType

TRAIN_SETS = ("wnut17_train", "btc_a", "btc_b", "btc_e")
DATA = Path(__file__).resolve().parent / "data"


def common_words_from(examples: list[Example], min_count: int = 3) -> list[str]:
    from consentry.redact.person import tokenize

    counts: Counter[str] = Counter()
    in_name: set[str] = set()
    for ex in examples:
        for s, e, tok in tokenize(ex.text):
            low = tok.lower()
            if not tok[:1].isalpha():
                continue
            if any(gs <= s and e <= ge for gs, ge, t in ex.gold if t is PiiType.PERSON):
                in_name.add(low)
            else:
                counts[low] += 1
    return sorted(w for w, c in counts.items() if c >= min_count and w not in in_name and len(w) > 1)


def featurize(examples: list[Example], cw: frozenset[str] | None = None) -> tuple[list[list[str]], list[int]]:
    """Features and labels of every candidate token; `cw`: the common words (default: the shipped list)."""
    from consentry.redact.gazetteer import first_names, last_names
    from consentry.redact.lexicon import word_set
    from consentry.redact.person import is_candidate, text_case, token_features, tokenize

    fn, ln = first_names(), last_names()
    cw = word_set("common_words.txt") if cw is None else cw
    X, y = [], []
    for ex in examples:
        toks = tokenize(ex.text)
        case = text_case(toks)
        persons = [(s, e) for s, e, t in ex.gold if t is PiiType.PERSON]
        for i, (s, e, tok) in enumerate(toks):
            if not is_candidate(tok, fn, ln, cw):
                continue
            X.append(token_features(toks, i, case, fn, ln, cw))
            y.append(int(any(gs <= s and e <= ge for gs, ge in persons)))
    return X, y


def fit(X: list[list[str]], y: list[int], c: float):
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = DictVectorizer()
    M = vec.fit_transform([{f: 1 for f in feats} for feats in X])
    clf = LogisticRegression(C=c, max_iter=2000, class_weight={0: 1.0, 1: 2.0})
    clf.fit(M, y)
    return vec, clf


def to_weights(vec, clf, X: list[list[str]]) -> dict[str, float]:
    df = Counter(f for feats in X for f in set(feats))  # features seen once are noise
    weights = {}
    for f, w in zip(vec.get_feature_names_out(), clf.coef_[0]):
        if df[f] >= 2 and abs(w) >= 1e-3:
            weights[f] = round(float(w), 4)
    weights["b"] = round(weights.get("b", 0.0) + float(clf.intercept_[0]), 4)
    return weights


def f_beta(p: float, r: float, beta: float = 2.0) -> float:
    b2 = beta * beta
    return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


def cv_curve(examples: list[Example], c: float, grid=tuple(round(0.05 + 0.025 * k, 3) for k in range(21)),
             groups: list[str] | None = None) -> dict:
    """Pooled overlap precision/recall per threshold on held-out folds of the training sections.

    With `groups` (the section of each example) each fold holds out one whole section,
    trained on the others: the model is used on text from other sources and periods
    (as the benchmark's sets are), where its scores run lower than on tweets mixed
    into its own training folds. Without, 4 interleaved folds. Each fold derives its
    common words from its own training part only, so that no word's use in a held-out
    name leaks into the fold.
    """
    from consentry.redact import person
    from consentry.redact.evaluate import PRF, score

    totals = {t: PRF() for t in grid}
    keys = sorted(set(groups)) if groups is not None else list(range(4))
    for k in keys:
        held_out = [(groups[i] == k) if groups is not None else (i % 4 == k) for i in range(len(examples))]
        train = [e for e, h in zip(examples, held_out) if not h]
        held = [e for e, h in zip(examples, held_out) if h]
        cw = frozenset(common_words_from(train))
        X, y = featurize(train, cw)
        vec, clf = fit(X, y, c)
        person._model.cache_clear()
        person._CACHE.clear()
        person._CANDIDATE.clear()
        orig, orig_words = person._model, person.word_set
        w = to_weights(vec, clf, X)
        person._model = lambda w=w: (w, 0.5)  # type: ignore[assignment]
        person.word_set = lambda name, cw=cw: cw if name == "common_words.txt" else orig_words(name)  # type: ignore[assignment]
        try:
            for t in grid:
                r = score([e.gold for e in held], [person.detect_person(e.text, t) for e in held], {PiiType.PERSON})
                o = r["overlap"].get(PiiType.PERSON, PRF())
                totals[t].tp_pred += o.tp_pred
                totals[t].n_pred += o.n_pred
                totals[t].tp_gold += o.tp_gold
                totals[t].n_gold += o.n_gold
        finally:
            person._model, person.word_set = orig, orig_words
            person._CACHE.clear()
            person._CANDIDATE.clear()
    for t in grid:
        p, r = totals[t].precision, totals[t].recall
        print(f"  cv threshold {t:.3f}: P {p:.3f} R {r:.3f} F1 {totals[t].f1:.3f} F2 {f_beta(p, r):.3f}")
    return totals


def operating_points(curve: dict, peer_precision: float | None) -> dict[str, float]:
    """The shipped thresholds, both read off the cross-validated curve.

    - `balanced` (the default): best F2, which weighs recall twice as much as
      precision: a missed name leaks a person into training data, a false redaction
      only costs a word.
    - `high_recall` (for packs that put privacy first): the most recall whose
      precision is still no lower than the peer's (Presidio with spaCy's small
      English model) on the same held-out text; absent when no threshold is.
    """
    points = {"balanced": max(curve, key=lambda t: f_beta(curve[t].precision, curve[t].recall))}
    if peer_precision is not None:
        ok = [t for t in curve if curve[t].precision >= peer_precision]
        if ok:
            points["high_recall"] = max(ok, key=lambda t: (curve[t].recall, t))
    for name, t in points.items():
        p, r = curve[t].precision, curve[t].recall
        print(f"cv {name}: threshold {t:.3f}, P {p:.3f} R {r:.3f} F2 {f_beta(p, r):.3f}")
    return points


def peer_precision(examples: list[Example]) -> float:
    """Presidio's pooled overlap PERSON precision on `examples` (needs the bench extra)."""
    from consentry.redact.evaluate import score
    from consentry.redact.peer import presidio_spans

    preds = [[s for s in presidio_spans(ex.text) if s[2] is PiiType.PERSON] for ex in examples]
    o = score([ex.gold for ex in examples], preds, {PiiType.PERSON})["overlap"].get(PiiType.PERSON)
    return o.precision if o is not None else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--c", type=float, default=0.3, help="inverse L2 strength (chosen by the same cross-validation)")
    ap.add_argument("--peer-precision", type=float, default=None,
                    help="Presidio's PERSON precision on the training sections, the high-recall point's floor "
                         "(default: measured, which needs the bench extra)")
    args = ap.parse_args(argv)

    sections = {name: read_conll(args.data / f"{name}.conll") for name in TRAIN_SETS}
    examples = [ex for name in TRAIN_SETS for ex in sections[name]]
    groups = [name for name in TRAIN_SETS for _ in sections[name]]
    words = common_words_from(examples)
    (DATA / "common_words.txt").write_text(
        "# lowercase words seen >= 3 times outside names in WNUT-17 train and BTC A, B, E (CC-BY 4.0)\n"
        + "\n".join(words) + "\n", encoding="utf-8")
    from consentry.redact import lexicon

    lexicon.word_set.cache_clear()
    peer = args.peer_precision if args.peer_precision is not None else round(peer_precision(examples), 3)
    print(f"peer PERSON precision on the training sections: {peer:.3f}")
    points = operating_points(cv_curve(examples, args.c, groups=groups), peer)
    X, y = featurize(examples)
    vec, clf = fit(X, y, args.c)
    weights = to_weights(vec, clf, X)
    model = {"threshold": points["balanced"], "operating_points": points,
             "peer": {"system": PEER_NAME, "cv_precision": peer}, "trained_on": list(TRAIN_SETS),
             "n_examples": len(y), "positives": int(sum(y)), "weights": weights}
    (DATA / "person_model.json").write_text(json.dumps(model, sort_keys=True), encoding="utf-8")
    print(f"operating points {points}, {len(y)} candidate tokens ({sum(y)} in names), {len(weights)} weights, "
          f"{len(words)} common words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
