"""Why a text's personal data was found, or not: `consentry redact explain`.

Every span the redactor keeps, with its type and score, and every word the PERSON
recogniser scored (`person.is_candidate`), found or not, with the threshold it was held
to and what moved its score. The model is linear, so a word's logit is the sum of its
features' weights; the features that weigh most are listed with what each one reads.
A score above the model's own is explained too: evidence shared with an adjacent
candidate ("Wolfgang Munchau") or a word repeating a name found in the same text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from consentry.redact import person
from consentry.redact.allow import AllowList
from consentry.redact.detect import DEFAULT_TYPES, spans_for
from consentry.redact.directory import MemberDirectory
from consentry.redact.gazetteer import first_names, last_names
from consentry.redact.lexicon import word_set
from consentry.redact.spans import Span

# What the part of a feature's name before "=" reads (see person.token_features).
_READS = {
    "b": "bias", "w": "word", "sh": "shape", "case": "text casing", "len": "length",
    "pre": "first 3 letters", "pre2": "first 2 letters", "pre4": "first 4 letters",
    "suf": "last 3 letters", "suf2": "last 2 letters", "suf4": "last 4 letters",
    "fn": "first-name list rank", "ln": "surname list rank", "cw": "common word",
    "zf": "English frequency (Zipf)", "hash": "hashtag", "glue": "glued first+last name",
    "org": "organisation/place word", "pl": "place name", "cl": "embedding cluster",
    "nm": "name-likeness (0-4)", "start": "sentence start", "poss": "followed by 's",
    "n1cap": "next word capitalised", "p1cap": "previous word capitalised", "hon": "after an honorific",
}
_NEIGHBOURS = {"p1": "previous word", "p2": "word two before", "n1": "next word", "n2": "word two after"}


def reads(feature: str) -> str:
    """A feature of the PERSON model in words: "p1fn=3" -> "previous word's first-name list rank = 3"."""
    name, _, value = feature.partition("=")
    parts = []
    for part in name.split("+"):
        if part in _READS:
            parts.append(_READS[part])
        elif part[:2] in _NEIGHBOURS:
            rest = part[2:]
            parts.append(_NEIGHBOURS[part[:2]] + (f"'s {_READS.get(rest, rest)}" if rest else ""))
        else:
            parts.append(part)
    return " + ".join(parts) + (f" = {value}" if value else "")


@dataclass(frozen=True)
class Reason:
    feature: str
    weight: float
    reads: str


@dataclass(frozen=True)
class Candidate:
    """One word the PERSON recogniser scored."""

    start: int
    end: int
    word: str
    model: float  # P(person) of the model alone
    score: float  # what the threshold is applied to
    found: bool
    evidence: str  # why `score` differs from `model`, if it does
    logit: float  # sum of all feature weights (the model's P is its logistic)
    reasons: list[Reason] = field(default_factory=list)  # the heaviest features, by |weight|
    allowed: bool = False  # found, but inside an allowed term (`allow.AllowList`): not redacted


@dataclass(frozen=True)
class Explanation:
    text: str
    spans: list[Span]
    person_threshold: float
    candidates: list[Candidate]

    def to_dict(self) -> dict:
        return {"text": self.text, "spans": [s.to_dict() for s in self.spans],
                "person_threshold": self.person_threshold, "candidates": [asdict(c) for c in self.candidates]}


def _evidence(text: str, scored: person.Scored, i: int) -> str:
    if i in scored.repeated:
        return "repeats a word of a name found in this text"
    if i in scored.hashtags:
        return "a hashtag spelling a first name and a surname"
    j = person.pair_partner(text, scored.tokens, scored.model, i)
    if j is None or scored.score[i] - scored.model[i] < 0.001:  # a partner scored near 0 changes nothing
        return ""
    return f"shares evidence with the adjacent candidate {scored.tokens[j][2]!r} ({scored.model[j]:.3f})"


def explain(text: str, directory: MemberDirectory | None = None, person_threshold: float | None = None,
            top: int = 5, allow: AllowList | None = None) -> Explanation:
    """The spans of `text` (as `find_spans` finds them, less PERSON guesses inside `allow`ed terms) and
    every PERSON candidate, explained."""
    scored = person.score_text(text, person_threshold)
    weights = person._model()[0]
    fn, ln, cw = first_names(), last_names(), word_set("common_words.txt")
    case = person.text_case(scored.tokens)
    positive = set(scored.positive)
    guessed = person.person_spans(text, scored) if scored.positive else []
    kept = allow.drop_allowed(text, guessed) if allow is not None else guessed
    dropped = [g for g in guessed if g not in kept]  # the PERSON guesses an allowed term holds back
    candidates = []
    for i in sorted(scored.model):
        s, e, word = scored.tokens[i]
        contrib = [(f, weights[f]) for f in person.token_features(scored.tokens, i, case, fn, ln, cw) if f in weights]
        logit = sum(w for _, w in contrib)
        heaviest = sorted(contrib, key=lambda fw: -abs(fw[1]))[:top]
        candidates.append(Candidate(
            s, e, word, round(scored.model[i], 4), round(scored.score[i], 4), i in positive,
            _evidence(text, scored, i), round(logit, 4),
            [Reason(f, w, reads(f)) for f, w in heaviest],
            any(d.start <= s and e <= d.end for d in dropped),
        ))
    spans = spans_for(text, DEFAULT_TYPES, directory, person_threshold, allow)
    return Explanation(text, spans, scored.threshold, candidates)

