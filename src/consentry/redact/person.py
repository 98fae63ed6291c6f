"""Names of people outside the member directory: a gazetteer-aware linear model.

Why this design (chosen by measurement, see the benchmark): spaCy's small English
NER finds about a third of the person names in tweets and runs at tens to a few
hundred texts per second. Here, only tokens that *could* be a name are scored
(capitalised words, or any word in the first/last-name lists), with a logistic
regression over sparse features: the word, its shape, character prefixes and
suffixes (2-4 letters: "-ić", "-sen", "Mc-" carry over to names never seen),
first/last-name list ranks, common-word membership, neighbouring words and their
shapes, a preceding honorific, sentence position and how the whole text is cased
(tweets in lower case or ALL CAPS). Honorifics ("Dr.", "Mr") are context, never part
of a name. Adjacent positive tokens merge into one span ("Ana Silva"). The weights
(`data/person_model.json`) are trained on public training sections only (WNUT-17
train, BTC sections A, B and E) by `python -m consentry.redact.train_person`; the
evaluation sets (WNUT-17 dev, BTC G, Presidio's synthetic set) are never used. The
decision threshold (0.2) and the L2 strength were chosen by cross-validation on the
training sections, each fold holding out one whole section, for recall-weighted F2.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from importlib import resources

from consentry.redact.gazetteer import first_names, last_names, place_words
from consentry.redact.lexicon import word_set
from consentry.redact.spans import Span
from consentry.vocab import PiiType

_TOKEN = re.compile(r"[#@]?\w+(?:['’-](?![sS]\b)\w+)*|\S")
_SENT_END = {".", "!", "?", ":", '"', "|", "…", "RT", "rt"}
_PARTICLES = {"de", "da", "van", "von", "der", "del", "di", "le", "la", "bin", "al", "dos", "du", "ter", "ten"}
THRESHOLD_DEFAULT = 0.5
# Honorifics are context ("Dr. Anette Lahtela"), not part of the name: never candidates.
_HONORIFICS = frozenset("mr mrs ms mx dr prof sir dame madam messrs rev hon".split())
# Words that head or end names of organisations and places ("Piper Labs", "Victoria
# Harbour"): a capitalised word next to one is rarely a person.
_ORG_WORDS = frozenset("""
inc ltd llc plc corp corporation co company group holdings partners capital ventures bank
labs lab systems solutions technologies technology tech software industries media studios
studio records entertainment networks network consulting services associates agency
foundation institute university college school academy hospital clinic church council
ministry department committee association society club fc united team airlines airways
airport station harbour harbor port bay beach park square street road avenue lane bridge
river lake mountain mount valley island islands city county state province district
centre center mall hotel restaurant cafe bar gallery museum theatre theater arena stadium
engineering manufacturing trading robotics logistics pharma pharmaceuticals energy motors
foods brands retail insurance finance financial analytics dynamics outfitters consultancy
""".split())


def tokenize(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def shape(tok: str) -> str:
    if tok.isupper():
        return "X" if len(tok) == 1 else "XX"
    if tok[:1].isupper():
        return "Xx" if tok[1:].islower() or len(tok) == 1 else "XxX"
    if tok.islower():
        return "x"
    if tok.isdigit():
        return "d"
    return "o"


def is_candidate(tok: str, fn: dict, ln: dict, cw: frozenset) -> bool:
    """Capitalised words, and lowercase words on a name list that are not common words."""
    c = tok[:1]
    if not c.isalpha():
        return False
    low = tok.lower()
    if low in _HONORIFICS:
        return False
    if c.isupper():
        return True
    return (low in fn or low in ln) and low not in cw


def text_case(tokens: list[tuple[int, int, str]]) -> str:
    words = [t for _, _, t in tokens if t[:1].isalpha()]
    if not words:
        return "none"
    up = sum(t.isupper() and len(t) > 1 for t in words) / len(words)
    title = sum(t[:1].isupper() for t in words) / len(words)
    if up > 0.6:
        return "caps"
    if title < 0.1:
        return "lower"
    if title > 0.6:
        return "title"
    return "mixed"


def intrinsic_features(tok: str, case: str, fn: dict, ln: dict, cw: frozenset) -> list[str]:
    """Features of the token itself (cacheable per token and text casing)."""
    low = tok.lower()
    sh = shape(tok)
    f_fn = fn.get(low)
    f_ln = ln.get(low)
    common = low in cw
    sfn = str(f_fn) if f_fn is not None else "-"
    sln = str(f_ln) if f_ln is not None else "-"
    place = str(low in place_words())
    return [
        "org=" + str(low in _ORG_WORDS),
        "pl=" + place,
        "pl+fn+ln=" + place + sfn + sln,
        "b",
        "w=" + low,
        "sh=" + sh,
        "suf=" + low[-3:],
        "case=" + case,
        "sh+case=" + sh + case,
        "fn=" + sfn,
        "ln=" + sln,
        "cw=" + str(common),
        "cw+sh=" + str(common) + sh,
        "fn+sh=" + sfn + sh,
        "ln+sh=" + sln + sh,
        "len=" + str(min(len(tok), 10)),
        "pre=" + low[:3],
        "suf2=" + low[-2:],
        "suf4=" + low[-4:],
        "pre4=" + low[:4],
        "pre2=" + low[:2],
        "fn+ln+sh=" + sfn + sln + sh + case,
    ]


def _nshape(tok: str) -> str:
    return shape(tok) if tok[:1].isalnum() else tok[:1]


def prev1_features(prev: str, fn: dict, ln: dict) -> list[str]:
    pl = prev.lower()
    return ["p1=" + pl, "p1sh=" + _nshape(prev), "p1fn=" + str(fn.get(pl, "-")),
            "p1ln=" + str(ln.get(pl, "-")), "p1pl=" + str(pl in place_words()),
            "p1org=" + str(pl in _ORG_WORDS)]


def next1_features(nxt: str, fn: dict, ln: dict) -> list[str]:
    nl = nxt.lower()
    return ["n1=" + nl, "n1sh=" + _nshape(nxt), "n1ln=" + str(ln.get(nl, "-")),
            "n1fn=" + str(fn.get(nl, "-")), "n1pl=" + str(nl in place_words()),
            "n1org=" + str(nl in _ORG_WORDS)]


def local_features(tok: str, prev: str, prev2: str, nxt: str, nxt2: str, first: bool, cw: frozenset) -> list[str]:
    sh = shape(tok)
    start = str(first or prev in _SENT_END)
    return [
        "start=" + start,
        "start+cw=" + start + str(tok.lower() in cw),
        "poss=" + str(nxt in ("'", "’") and nxt2.lower() == "s"),
        "n1cap=" + str(nxt[:1].isupper()) + sh,
        "p1cap=" + str(prev[:1].isupper()) + sh,
        "hon=" + str(prev.lower() in _HONORIFICS or (prev == "." and prev2.lower() in _HONORIFICS)),
    ]


def _neighbours(tokens: list[tuple[int, int, str]], i: int) -> tuple[str, str, str, str]:
    n = len(tokens)
    return (
        tokens[i - 1][2] if i > 0 else "<s>",
        tokens[i - 2][2] if i > 1 else "<s>",
        tokens[i + 1][2] if i + 1 < n else "</s>",
        tokens[i + 2][2] if i + 2 < n else "</s>",
    )


def context_features(tokens: list[tuple[int, int, str]], i: int, fn: dict, ln: dict, cw: frozenset) -> list[str]:
    """Features of the token's neighbourhood (split in parts so inference can cache them)."""
    prev, prev2, nxt, nxt2 = _neighbours(tokens, i)
    return (
        local_features(tokens[i][2], prev, prev2, nxt, nxt2, i == 0, cw)
        + prev1_features(prev, fn, ln)
        + ["p2=" + prev2.lower()]
        + next1_features(nxt, fn, ln)
        + ["n2=" + nxt2.lower()]
    )


def token_features(tokens: list[tuple[int, int, str]], i: int, case: str, fn: dict, ln: dict, cw: frozenset) -> list[str]:
    return intrinsic_features(tokens[i][2], case, fn, ln, cw) + context_features(tokens, i, fn, ln, cw)


@lru_cache(maxsize=1)
def _model() -> tuple[dict[str, float], float]:
    try:
        raw = resources.files("consentry.redact").joinpath("data", "person_model.json").read_text("utf-8")
    except FileNotFoundError:
        return {}, 1.0
    m = json.loads(raw)
    return m["weights"], float(m.get("threshold", THRESHOLD_DEFAULT))


_CACHE: dict[tuple[str, str], float] = {}


def _cached(kind: str, key: str, make) -> float:
    """Sum of weights of features that depend on one token only, memoised per token."""
    k = (kind, key)
    z = _CACHE.get(k)
    if z is None:
        get = _model()[0].get
        z = sum(get(f, 0.0) for f in make())
        if len(_CACHE) > 500_000:
            _CACHE.clear()
        _CACHE[k] = z
    return z


def token_probs(text: str) -> tuple[list[tuple[int, int, str]], dict[int, float]]:
    """Tokens of `text` and P(person) for each candidate token index.

    Equal to the logistic model over `token_features`, computed as cached per-token
    parts (the token itself; as previous, next, second-previous or second-next word)
    plus a few local features, which is what makes it fast.
    """
    weights, _ = _model()
    tokens = tokenize(text)
    if not weights or not tokens:
        return tokens, {}
    fn, ln, cw = first_names(), last_names(), word_set("common_words.txt")
    case = text_case(tokens)
    probs: dict[int, float] = {}
    get = weights.get
    for i, (_, _, tok) in enumerate(tokens):
        if not is_candidate(tok, fn, ln, cw):
            continue
        prev, prev2, nxt, nxt2 = _neighbours(tokens, i)
        z = (
            _cached("w" + case, tok, lambda: intrinsic_features(tok, case, fn, ln, cw))
            + _cached("p1", prev, lambda: prev1_features(prev, fn, ln))
            + _cached("p2", prev2, lambda: ["p2=" + prev2.lower()])
            + _cached("n1", nxt, lambda: next1_features(nxt, fn, ln))
            + _cached("n2", nxt2, lambda: ["n2=" + nxt2.lower()])
            + sum(get(f, 0.0) for f in local_features(tok, prev, prev2, nxt, nxt2, i == 0, cw))
        )
        probs[i] = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
    return tokens, probs


def detect_person(text: str, threshold: float | None = None) -> list[Span]:
    tokens, probs = token_probs(text)
    if not probs:
        return []
    thr = _model()[1] if threshold is None else threshold
    out: list[Span] = []
    run: list[int] = []

    def close() -> None:
        if run:
            s, e = tokens[run[0]][0], tokens[run[-1]][1]
            scored = [probs[j] for j in run if j in probs]
            score = sum(scored) / len(scored)
            out.append(Span(s, e, PiiType.PERSON, round(score, 4)))
            run.clear()

    for i in range(len(tokens)):
        p = probs.get(i)
        if p is not None and p >= thr:
            # merge with the previous positive token when only spaces separate them
            if run and text[tokens[run[-1]][1]:tokens[i][0]].strip():
                close()
            run.append(i)
        elif run and tokens[i][2].lower() in _PARTICLES and i + 1 < len(tokens) and probs.get(i + 1, 0) >= thr:
            run.append(i)  # "Vincent van Gogh"
        else:
            close()
    close()
    return out
