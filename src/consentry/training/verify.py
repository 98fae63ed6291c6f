"""Evidence that forgetting worked, measured on the models themselves.

Three independent checks, each comparing the model before and after a forget run:
- canary exposure (Carlini et al., "The Secret Sharer", 2019): how much more likely
  the model finds a planted secret than other secrets of the same format;
  exposure = log2|space| - log2 rank. The rank is estimated from a seeded sample of
  the space, so exposure is capped at log2(samples+1). After forgetting, the
  forgotten canaries must look like reference canaries the model never saw.
- leakage scan: a fixed set of drafts, searched for names/emails/phones of people
  who must never come out (excluded members, non-members) and for PII in general.
- likelihood-ratio membership inference against the base alone: AUC of the forgotten
  members' texts against never-trained texts, with a bootstrap interval and a power
  check (trained texts must score >= 0.6 before forgetting, or the test says it
  cannot tell); after forgetting the interval must hold 0.5.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass, field
from statistics import mean, median
from typing import Sequence

_SECRET = re.compile(r"\d[\d\- ]*\d|\d")

DEFAULT_PROMPTS = (
    "Excited to share that",
    "Note to self:",
    "I am happy to announce",
    "Three lessons from",
    "We are hiring",
    "Please reach out to",
    "Congratulations to",
    "Thanks to my colleague",
)


def split_canary(canary: str) -> tuple[str, str]:
    """(format prefix, secret): the secret is the last run of digits."""
    ms = list(_SECRET.finditer(canary))
    if not ms:
        raise ValueError(f"canary {canary!r} has no digits to randomise")
    m = ms[-1]
    return canary[: m.start()], canary[m.start() : m.end()]


def candidates(secret: str, n: int, seed: int) -> list[str]:
    """n distinct random secrets of the same format (each digit redrawn), excluding the secret."""
    rng = random.Random(seed)
    digits = [i for i, c in enumerate(secret) if c.isdigit()]
    space = 10 ** len(digits)
    n = min(n, space - 1)
    seen, out = {secret}, []
    while len(out) < n:
        s = list(secret)
        for i in digits:
            s[i] = str(rng.randrange(10))
        c = "".join(s)
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


@dataclass
class Exposure:
    canary: str
    exposure: float
    rank: int
    samples: int
    space_bits: float


def exposure(model, context: str, canary: str, *, samples: int = 500, seed: int = 0) -> Exposure:
    """Exposure of `canary` after `context` (e.g. "Note to self: "), rank estimated by sampling."""
    prefix, secret = split_canary(canary)
    cands = candidates(secret, samples, seed)
    scores = model.continuation_nll(context + prefix, [secret, *cands])
    mine, others = scores[0], scores[1:]
    below = sum(1 for s in others if s < mine)
    # estimated rank fraction: (below + 1) / (samples + 1); exposure = -log2 of it
    frac = (below + 1) / (len(others) + 1)
    bits = len([c for c in secret if c.isdigit()]) * math.log2(10)
    return Exposure(canary=canary, exposure=round(-math.log2(frac), 4), rank=below + 1, samples=len(others), space_bits=round(bits, 2))


@dataclass
class ExposureReport:
    targets: list[Exposure]
    references: list[Exposure]

    def summary(self) -> dict:
        t = [e.exposure for e in self.targets]
        r = [e.exposure for e in self.references]
        return {
            "canaries": len(t),
            "mean_exposure": round(mean(t), 3) if t else None,
            "median_exposure": round(median(t), 3) if t else None,
            "reference_mean_exposure": round(mean(r), 3) if r else None,
            "reference_median_exposure": round(median(r), 3) if r else None,
            "max_measurable": round(math.log2(1 + max((e.samples for e in self.targets + self.references), default=0)), 2),
        }


def canary_report(model, canaries: Sequence[str], references: Sequence[str], *, context: str = "Note to self: ",
                  samples: int = 500, seed: int = 0) -> ExposureReport:
    return ExposureReport(
        targets=[exposure(model, context, c, samples=samples, seed=seed + i) for i, c in enumerate(canaries)],
        references=[exposure(model, context, c, samples=samples, seed=seed + 10_000 + i) for i, c in enumerate(references)],
    )


def _auc(a, b) -> float:
    """Mann-Whitney: P(score of a member > score of a non-member) + half the ties."""
    return float((a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean())


def lr_scores(model, texts: Sequence[str]):
    """Per-token log-likelihood ratio of the model to its base alone: high = the adapters learned this text.

    Against a reference, so texts that are merely easy English do not look like members.
    """
    import numpy as np

    m = model.text_nll(list(texts))
    b = model.text_nll(list(texts), base=True)
    return np.array([(nb - nm) / max(c, 1) for (nm, c), (nb, _) in zip(m, b)])


def mia_auc(model, members_texts: Sequence[str], nonmember_texts: Sequence[str], *, boot: int = 200,
            seed: int = 0) -> dict | None:
    """Likelihood-ratio membership inference: AUC with a bootstrap 95% interval; 0.5 = no trace."""
    if not members_texts or not nonmember_texts:
        return None
    import numpy as np

    a, b = lr_scores(model, members_texts), lr_scores(model, nonmember_texts)
    rng = np.random.default_rng(seed)
    draws = [_auc(rng.choice(a, len(a)), rng.choice(b, len(b))) for _ in range(boot)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"auc": round(_auc(a, b), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)], "members": len(a),
            "non_members": len(b)}


def mia_verdict(before: dict | None, after: dict | None, *, power_min: float = 0.6) -> dict:
    """Power check and verdict: the test must see trained texts before (AUC >= 0.6), and not after."""
    if not before or not after:
        return {"power": None, "verdict": "not run (no texts)"}
    power = before["auc"] >= power_min
    lo, hi = after["ci95"]
    gone = lo <= 0.5 <= hi or after["auc"] < 0.5
    if not power:
        verdict = f"no power here: trained texts scored AUC {before['auc']:.3f} < {power_min} before forgetting"
    else:
        verdict = "forgotten: indistinguishable from never-trained texts" if gone else "trace remains after forgetting"
    return {"power": power, "forgotten_like_never_seen": gone, "verdict": verdict}


@dataclass
class LeakReport:
    drafts: int
    forbidden_hits: dict[str, int] = field(default_factory=dict)  # exact string -> count
    pii_spans: dict[str, int] = field(default_factory=dict)  # detector type -> count
    detector: str = "consentry.redact.find_spans"

    @property
    def forbidden_total(self) -> int:
        return sum(self.forbidden_hits.values())


def leakage_scan(model, forbidden: Sequence[str], *, prompts: Sequence[str] = DEFAULT_PROMPTS, drafts: int = 16,
                 max_new: int = 60, seed: int = 0, output_filter=None, texts: Sequence[str] | None = None) -> LeakReport:
    """Count forbidden strings and detected PII in `drafts` seeded drafts (or given `texts`).

    output_filter(text) -> (text, n): the filter drafts pass before anyone sees them;
    applied when given, so the count is of what a user would see.
    """
    if texts is None:
        texts = [
            model.generate(prompts[i % len(prompts)], max_new=max_new, seed=seed + i)[len(prompts[i % len(prompts)]) :]
            for i in range(drafts)
        ]
    if output_filter is not None:
        texts = [output_filter(t)[0] for t in texts]
    rep = LeakReport(drafts=len(texts))
    words = [w for w in {f.strip() for f in forbidden if f and len(f.strip()) >= 3}]
    if words:
        import ahocorasick

        A = ahocorasick.Automaton()
        for w in words:
            A.add_word(w.lower(), w)
        A.make_automaton()
        for t in texts:
            for _, w in A.iter(t.lower()):
                rep.forbidden_hits[w] = rep.forbidden_hits.get(w, 0) + 1
    try:
        from consentry.redact import find_spans
    except ImportError:  # redaction module absent: exact matching only, and say so
        rep.detector = "none (consentry.redact not importable)"
        return rep
    for spans in find_spans(texts, types=["PERSON", "EMAIL", "PHONE"]):
        for s in spans:
            k = str(getattr(s.type, "value", s.type))
            rep.pii_spans[k] = rep.pii_spans.get(k, 0) + 1
    return rep


def report_dict(obj) -> dict:
    return asdict(obj) if hasattr(obj, "__dataclass_fields__") else dict(obj)
