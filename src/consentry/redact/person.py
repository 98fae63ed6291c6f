"""Names of people outside the member directory: a gazetteer-aware linear model.

Why this design (chosen by measurement, see the benchmark): spaCy's small English
NER finds about a third of the person names in tweets and runs at tens to a few
hundred texts per second. Here, only tokens that *could* be a name are scored
(capitalised words, or any word in the first/last-name lists; a hashtag by its text),
with a logistic regression over sparse features: the word, its shape, character
prefixes and suffixes (2-4 letters: "-ić", "-sen", "Mc-" carry over to names never
seen), first/last-name list ranks (US census, nam_dict, faker's locales), a first
name glued to a surname ("RayWilkins"), the word's frequency in English (wordfreq: a
capitalised word rare in English, "Dzeko", is likelier a name than "Bridge"),
common-word membership, neighbouring words with their shapes and frequencies, a
preceding honorific, sentence position and how the whole text is cased (tweets in
lower case or ALL CAPS), and word classes read off a sentence encoder's embedding of
the word alone (`gazetteer.word_classes`: its k-means cluster, also of the previous
and next word, and a name-likeness bucket that carries the name lists over to
surnames on none of them; CV F2 0.734 -> 0.766 on the training sections). That table
is built offline with torch (`train_person --build-word-classes`) and shipped as
package data; inference only looks words up in it. The shipped weights need it: the
model refuses to run when it is missing (`_model`). Honorifics ("Dr.", "Mr") are context, never part of a name,
and so are company designators ("Labs", "Capital", "Inc": "Pied Piper Labs" is no person).
Two adjacent candidates share their evidence (`pair_evidence`: "Wolfgang Munchau",
each weak alone), adjacent positive tokens merge into one span ("Ana Silva"), and a word of
a name found in a text is redacted wherever else that text repeats it (`repeated_mentions`:
"Munchau argued", after "Wolfgang Munchau"; the same text only, never other items), and a
hashtag spelling a first name and a surname ("#MichaelBrown") is a name (`hashtag_names`). The
weights (`data/person_model.json`) are trained on public training sections only
(WNUT-17 train, BTC sections A, B and E) by `python -m consentry.redact.train_person`;
the evaluation sets (WNUT-17 dev, BTC G, Presidio's synthetic set) are never used. The
L2 strength and two operating points were chosen by cross-validation on the training
sections, each fold holding out one whole section: `balanced` (threshold 0.3, the
default) for the best recall-weighted F2, and `high_recall` (0.075) for the most recall
at a precision no lower than Presidio's on the same held-out text (on the benchmark's
sets it lands a little below Presidio's precision). A pack picks one
(`redaction.person_operating_point`); `strict` takes `high_recall`.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from consentry.redact.gazetteer import (
    WORD_CLASSES_FILE,
    english_zipf,
    first_names,
    last_names,
    place_words,
    word_classes,
)
from consentry.redact.lexicon import word_set
from consentry.redact.spans import Span
from consentry.vocab import PersonPoint, PiiType

_TOKEN = re.compile(r"[#@]?\w+(?:['’-](?![sS]\b)\w+)*|\S")
_SENT_END = {".", "!", "?", ":", '"', "|", "…", "RT", "rt"}
_PARTICLES = {"de", "da", "van", "von", "der", "del", "di", "le", "la", "bin", "al", "dos", "du", "ter", "ten"}
THRESHOLD_DEFAULT = 0.5
# Honorifics are context ("Dr. Anette Lahtela"), not part of the name: never candidates.
_HONORIFICS = frozenset("mr mrs ms mx dr prof sir dame madam messrs rev hon".split())
# Words that end company names ("Pied Piper Labs", "Wayne Capital", "Acme Inc") and are no
# person's name: never candidates, so they neither join a name nor lend it pair evidence;
# a name before one is still found ("Anna Kowalski Consulting"). Place words ("Park",
# "Street", "Lake") are surnames too, so they stay candidates.
_ORG_DESIGNATORS = frozenset("""
inc ltd llc plc corp corporation co company group holdings partners capital ventures labs lab
systems solutions technologies technology tech software industries studios entertainment
networks consulting consultancy services associates agency foundation institute university
academy hospital clinic pharma pharmaceuticals energy motors foods brands retail insurance
finance financial analytics dynamics outfitters logistics robotics engineering manufacturing
trading
""".split())
# The designators and other words that head or end names of organisations and places
# ("Piper Labs", "Victoria Harbour"): a capitalised word next to one is rarely a person.
_ORG_WORDS = _ORG_DESIGNATORS | frozenset("""
airlines airport airways arena association avenue bank bar bay beach bridge cafe center centre
church city club college committee council county department district fc gallery harbor
harbour hotel island islands lake lane mall media ministry mount mountain museum network park
port province records restaurant river road school society square stadium state station street
studio team theater theatre united valley
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


_CAMEL = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])")


@lru_cache(maxsize=200_000)
def glued_name(word: str) -> str:
    """First/last-name ranks of a name written as one word ("RayWilkins", "dianeabbott"), else "-".

    Camel case splits at the capitals; a lowercase word is tried at every point that
    leaves a listed first name (3+ letters) followed by a listed surname (3+ letters).
    """
    fn, ln = first_names(), last_names()
    if not word.islower():
        if word[1:].islower() or word.isupper():
            return "-"
        parts = [p.lower() for p in _CAMEL.findall(word)]
        if len(parts) >= 2 and parts[0] in fn and (parts[-1] in ln or parts[-1] in fn):
            return f"{fn[parts[0]]}{ln.get(parts[-1], '-')}"
        return "-"
    for k in range(3, len(word) - 2):
        head, tail = word[:k], word[k:]
        if head in fn and tail in ln:
            return f"{fn[head]}{ln[tail]}"
    return "-"


def _body(tok: str) -> str:
    """A hashtag is scored by its text ("#Poroshenko" as "Poroshenko")."""
    return tok[1:] if tok[:1] == "#" and len(tok) > 1 else tok


def is_candidate(tok: str, fn: dict, ln: dict, cw: frozenset) -> bool:
    """Capitalised words, and lowercase words on a name list that are not common words;
    the same for the text of a hashtag ("#Poroshenko"). Never an honorific or a company
    designator."""
    tok = _body(tok)
    c = tok[:1]
    if not c.isalpha():
        return False
    low = tok.lower()
    if low in _HONORIFICS or low in _ORG_DESIGNATORS:
        return False
    if c.isupper():
        return True
    return (low in fn or low in ln) and low not in cw


def text_case(tokens: list[tuple[int, int, str]]) -> str:
    n = up = title = 0
    for _, _, t in tokens:
        if t[:1].isalpha():
            n += 1
            title += t[0].isupper()
            up += len(t) > 1 and t.isupper()
    if not n:
        return "none"
    if up / n > 0.6:
        return "caps"
    if title / n < 0.1:
        return "lower"
    if title / n > 0.6:
        return "title"
    return "mixed"


def intrinsic_features(tok: str, case: str, fn: dict, ln: dict, cw: frozenset) -> list[str]:
    """Features of the token itself (cacheable per token and text casing)."""
    tag = str(tok[:1] == "#")
    tok = _body(tok)
    low = tok.lower()
    sh = shape(tok)
    f_fn = fn.get(low)
    f_ln = ln.get(low)
    common = low in cw
    sfn = str(f_fn) if f_fn is not None else "-"
    sln = str(f_ln) if f_ln is not None else "-"
    place = str(low in place_words())
    zf = str(english_zipf().get(low, 0))
    glue = glued_name(tok)
    return _class_features(low, sh, case) + [
        "hash=" + tag,
        "hash+sh=" + tag + sh,
        "glue=" + glue,
        "zf=" + zf,
        "zf+sh=" + zf + sh + case,
        "zf+fn+ln=" + zf + sfn + sln,
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


_NO_CLASS = ("-", "-")


def _class_features(low: str, sh: str, case: str) -> list[str]:
    """The word's embedding cluster and name-likeness bucket (`word_classes`), with its shape.

    Nothing when the table is absent; "-" for a word the table does not list.
    """
    classes = word_classes()
    if not classes:
        return []
    cl, nm = classes.get(low, _NO_CLASS)
    return ["cl=" + cl, "cl+sh=" + cl + sh, "nm=" + nm, "nm+sh=" + nm + sh + case]


def _neighbour_class(kind: str, low: str) -> list[str]:
    classes = word_classes()
    return [kind + "cl=" + classes.get(low, _NO_CLASS)[0]] if classes else []


def _nshape(tok: str) -> str:
    return shape(tok) if tok[:1].isalnum() else tok[:1]


def prev1_features(prev: str, fn: dict, ln: dict) -> list[str]:
    pl = prev.lower()
    return ["p1=" + pl, "p1sh=" + _nshape(prev), "p1fn=" + str(fn.get(pl, "-")),
            "p1ln=" + str(ln.get(pl, "-")), "p1pl=" + str(pl in place_words()),
            "p1zf=" + str(english_zipf().get(pl, 0)) + _nshape(prev),
            "p1org=" + str(pl in _ORG_WORDS)] + _neighbour_class("p1", pl)


def next1_features(nxt: str, fn: dict, ln: dict) -> list[str]:
    nl = nxt.lower()
    return ["n1=" + nl, "n1sh=" + _nshape(nxt), "n1ln=" + str(ln.get(nl, "-")),
            "n1fn=" + str(fn.get(nl, "-")), "n1pl=" + str(nl in place_words()),
            "n1zf=" + str(english_zipf().get(nl, 0)) + _nshape(nxt),
            "n1org=" + str(nl in _ORG_WORDS)] + _neighbour_class("n1", nl)


def second_features(kind: str, tok: str) -> list[str]:
    """The word two before or after ("Alex , Harry . Dave"): itself and its shape."""
    return [kind + "=" + tok.lower(), kind + "sh=" + _nshape(tok)]


def local_key(tok: str, prev: str, prev2: str, nxt: str, nxt2: str, first: bool, cw: frozenset) -> tuple:
    """What `local_features` reads of a token and its neighbours: a few flags and the token's shape."""
    return (
        shape(_body(tok)),
        first or prev in _SENT_END,
        tok.lower() in cw,
        nxt in ("'", "’") and nxt2.lower() == "s",
        nxt[:1].isupper(),
        prev[:1].isupper(),
        prev.lower() in _HONORIFICS or (prev == "." and prev2.lower() in _HONORIFICS),
    )


def key_features(key: tuple) -> list[str]:
    sh, start, common, poss, ncap, pcap, hon = key
    return [
        "start=" + str(start),
        "start+cw=" + str(start) + str(common),
        "poss=" + str(poss),
        "n1cap=" + str(ncap) + sh,
        "p1cap=" + str(pcap) + sh,
        "hon=" + str(hon),
    ]


def local_features(tok: str, prev: str, prev2: str, nxt: str, nxt2: str, first: bool, cw: frozenset) -> list[str]:
    """Features of the token in its place: sentence start, possessive, capitalised neighbours, honorific."""
    return key_features(local_key(tok, prev, prev2, nxt, nxt2, first, cw))


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
        + second_features("p2", prev2)
        + next1_features(nxt, fn, ln)
        + second_features("n2", nxt2)
    )


def token_features(tokens: list[tuple[int, int, str]], i: int, case: str, fn: dict, ln: dict, cw: frozenset) -> list[str]:
    return intrinsic_features(tokens[i][2], case, fn, ln, cw) + context_features(tokens, i, fn, ln, cw)


@lru_cache(maxsize=1)
def _shipped() -> dict:
    try:
        raw = resources.files("consentry.redact").joinpath("data", "person_model.json").read_text("utf-8")
    except FileNotFoundError:
        return {"weights": {}, "threshold": 1.0}
    return json.loads(raw)


@lru_cache(maxsize=1)
def _model() -> tuple[dict[str, float], float]:
    m = _shipped()
    needed = m.get("word_classes")
    if needed and not word_classes():
        # weights learnt with the table lean on it: without it they find fewer names than a
        # model trained without one, so a broken install stops here instead of leaking names
        raise RuntimeError(f"the PERSON model was trained with the word-class table data/{WORD_CLASSES_FILE} "
                           f"({needed} words), which is missing or unreadable: reinstall consentry")
    return m["weights"], float(m.get("threshold", THRESHOLD_DEFAULT))


OPERATING_POINTS = tuple(p.value for p in PersonPoint)


def operating_threshold(point: str) -> float:
    """The shipped model's threshold at an operating point (`OPERATING_POINTS`).

    `balanced` is the default threshold; `high_recall` trades precision for recall
    down to Presidio's precision on the same held-out training text. A model trained
    without a point (no peer precision measured) refuses it rather than quietly
    answering with another point's threshold.
    """
    if point not in OPERATING_POINTS:
        raise ValueError(f"PERSON operating point must be one of {', '.join(OPERATING_POINTS)}, not {point!r}")
    points = _shipped().get("operating_points", {})
    if point not in points:
        raise ValueError(f"the shipped PERSON model has no {point!r} operating point (it has: "
                         f"{', '.join(points) or 'none'}); retrain it with train_person --peer-precision")
    return float(points[point])


_CACHE: dict[tuple[str, str], float] = {}
_CANDIDATE: dict[str, bool] = {}


def _part(key: tuple[str, str], features, *args) -> float:  # noqa: ANN001 - a feature function
    """Sum of weights of `features(*args)`, features that depend on one token only, memoised per token."""
    z = _CACHE.get(key)
    if z is not None:
        return z
    get = _model()[0].get
    z = sum(get(f, 0.0) for f in features(*args))
    if len(_CACHE) > 500_000:
        _CACHE.clear()
    _CACHE[key] = z
    return z


def token_probs(text: str) -> tuple[list[tuple[int, int, str]], dict[int, float]]:
    """Tokens of `text` and P(person) for each candidate token index.

    Equal to the logistic model over `token_features`, computed as cached parts: per
    token (itself; as previous, next, second-previous or second-next word) and per
    `local_key` (a few flags of its place), which is what makes it fast.
    """
    weights, _ = _model()
    tokens = tokenize(text)
    if not weights or not tokens:
        return tokens, {}
    fn, ln, cw = first_names(), last_names(), word_set("common_words.txt")
    case = text_case(tokens)
    wkind = "w" + case
    probs: dict[int, float] = {}
    for i, (_, _, tok) in enumerate(tokens):
        cand = _CANDIDATE.get(tok)
        if cand is None:
            if len(_CANDIDATE) > 500_000:
                _CANDIDATE.clear()
            cand = _CANDIDATE[tok] = is_candidate(tok, fn, ln, cw)
        if not cand:
            continue
        prev, prev2, nxt, nxt2 = _neighbours(tokens, i)
        key = local_key(tok, prev, prev2, nxt, nxt2, i == 0, cw)
        z = _part(("loc", key), key_features, key)
        z += _part((wkind, tok), intrinsic_features, tok, case, fn, ln, cw)
        z += _part(("p1", prev), prev1_features, prev, fn, ln)
        z += _part(("p2", prev2), second_features, "p2", prev2)
        z += _part(("n1", nxt), next1_features, nxt, fn, ln)
        z += _part(("n2", nxt2), second_features, "n2", nxt2)
        probs[i] = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
    return tokens, probs


def pair_partner(text: str, tokens: list[tuple[int, int, str]], probs: dict[int, float], i: int) -> int | None:
    """The likelier of candidate `i`'s neighbours that are candidates too, joined to it by spaces only."""
    best, partner = 0.0, None
    for j in (i - 1, i + 1):
        q = probs.get(j)
        if q is not None and q > best:
            a, b = (j, i) if j < i else (i, j)
            if not text[tokens[a][1]:tokens[b][0]].strip():
                best, partner = q, j
    return partner


def pair_evidence(text: str, tokens: list[tuple[int, int, str]], probs: dict[int, float]) -> dict[int, float]:
    """Each candidate's probability combined with its `pair_partner`'s.

    Two weak but adjacent name-like words ("Wolfgang Munchau" at 0.16 and 0.13) are
    better evidence of a name than either alone: 1 - (1 - p)(1 - p_neighbour).
    """
    out = dict(probs)
    for i, p in probs.items():
        j = pair_partner(text, tokens, probs, i)
        if j is not None:
            out[i] = 1.0 - (1.0 - p) * (1.0 - probs[j])
    return out


def repeated_mentions(tokens: list[tuple[int, int, str]], probs: dict[int, float], positive: set[int],
                      cw: frozenset) -> dict[int, float]:
    """Candidates that repeat a word of a name found in the same text, with that name word's score.

    "Wolfgang Munchau spoke first. Munchau argued ..." names one person twice; the lone
    surname, weak on its own, would otherwise stay in the redacted text beside the
    `[PERSON]` it belongs to. Only the same text counts (never other items: forgetting one
    item must change nothing in another), only capitalised occurrences (or a hashtag's
    text) of a word of 3+ letters, and never a common word of the training text or one as
    frequent in English as "will" or "the" (Zipf 6 and up).
    """
    names: dict[str, float] = {}
    zipf = english_zipf()
    for i in positive:
        word = _body(tokens[i][2])
        low = word.lower()
        if len(word) >= 3 and word[:1].isupper() and low not in cw and zipf.get(low, 0) < 6:
            names[word] = max(names.get(word, 0.0), probs[i])
    if not names:
        return {}
    return {i: names[w] for i in probs if i not in positive and (w := _body(tokens[i][2])) in names}


_HASHTAG_NAME = re.compile(r"#([A-Z][a-z]{2,})([A-Z][a-z]{2,})")
HASHTAG_NAME_SCORE = 0.9


def hashtag_names(tokens: list[tuple[int, int, str]], probs: dict[int, float], fn: dict, ln: dict,
                  cw: frozenset) -> list[int]:
    """Candidates that are hashtags spelling a first name and a surname: "#MichaelBrown", "#EltonJohn".

    Such a hashtag names a person, but the training text cannot teach it: WNUT-17 does not
    tag names inside hashtags ("#lindsaylohan" is O there). So it is a rule, kept narrow:
    exactly two capitalised parts of 3+ letters, a listed first name then a listed name,
    neither a common word of the training text ("#RedArmy", "#GoBucks", "#TheNation" and
    "#OnTheJob" do not count). It fires on no token of the four training sections.
    """
    out = []
    for i in probs:
        tok = tokens[i][2]
        if tok[:1] != "#" or not (m := _HASHTAG_NAME.fullmatch(tok)):
            continue
        first, last = m.group(1).lower(), m.group(2).lower()
        if first in fn and first not in cw and (last in ln or last in fn) and last not in cw:
            out.append(i)
    return out


class Scored(NamedTuple):
    """How `detect_person` scored one text: what `explain` shows and the spans are made of."""

    tokens: list[tuple[int, int, str]]
    model: dict[int, float]  # candidate token index -> P(person) of the model alone
    score: dict[int, float]  # after pair evidence, full-name hashtags and repeated mentions
    threshold: float
    positive: list[int]  # token indices at or above the threshold, or repeating a found name
    repeated: frozenset[int]  # those found only because they repeat a found name
    hashtags: frozenset[int]  # hashtags spelling a full name (`hashtag_names`)


def score_text(text: str, threshold: float | None = None) -> Scored:
    tokens, model = token_probs(text)
    thr = _model()[1] if threshold is None else threshold
    if not model:
        return Scored(tokens, model, {}, thr, [], frozenset(), frozenset())
    probs = pair_evidence(text, tokens, model)
    cw = word_set("common_words.txt")
    tags = hashtag_names(tokens, probs, first_names(), last_names(), cw)
    for i in tags:
        probs[i] = max(probs[i], HASHTAG_NAME_SCORE)
    found = {i for i, p in probs.items() if p >= thr}
    again: dict[int, float] = {}
    if found:
        again = repeated_mentions(tokens, probs, found, cw)
        probs.update(again)
        found |= set(again)
    return Scored(tokens, model, probs, thr, sorted(found), frozenset(again), frozenset(tags))


def detect_person(text: str, threshold: float | None = None) -> list[Span]:
    scored = score_text(text, threshold)
    return person_spans(text, scored) if scored.positive else []


def person_spans(text: str, scored: Scored) -> list[Span]:
    """Adjacent positive tokens (or two joined by a particle, "van") make one span."""
    tokens, probs, positive = scored.tokens, scored.score, scored.positive
    out: list[Span] = []

    def close(run: list[int]) -> None:
        vals = [probs[j] for j in run if j in probs]
        out.append(Span(tokens[run[0]][0], tokens[run[-1]][1], PiiType.PERSON, round(sum(vals) / len(vals), 4)))

    def spaced(a: int, b: int) -> bool:
        return not text[tokens[a][1]:tokens[b][0]].strip()

    run = [positive[0]]
    for i in positive[1:]:
        last = run[-1]
        if i == last + 1 and spaced(last, i):
            run.append(i)  # only spaces between two positive tokens: one name
        elif i == last + 2 and tokens[last + 1][2].lower() in _PARTICLES and spaced(last, last + 1) and spaced(last + 1, i):
            run += [last + 1, i]  # "Vincent van Gogh"
        else:
            close(run)
            run = [i]
    close(run)
    return out
