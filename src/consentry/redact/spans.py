"""The unit every detector returns, and how overlapping findings are reconciled.

Detectors run independently and may claim the same characters (a phone number inside
an IBAN, a handle inside an email). A single deterministic rule decides which claim
wins, so that redaction output does not depend on detector order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from consentry.vocab import PiiType

# Higher wins when two spans overlap: validated structured data beats guesses.
PRIORITY: dict[PiiType, int] = {
    PiiType.EMAIL: 100,
    PiiType.URL: 95,
    PiiType.IBAN: 90,
    PiiType.CREDIT_CARD: 85,
    PiiType.NATIONAL_ID: 80,
    PiiType.IP_ADDRESS: 75,
    PiiType.PHONE: 70,
    PiiType.HANDLE: 60,
    PiiType.STREET_ADDRESS: 50,
    PiiType.PERSON: 40,
    PiiType.LOCATION: 30,
}


@dataclass(frozen=True, slots=True)
class Span:
    """A character range [start, end) of one text holding personal data of one type.

    `member_id` is set when the span is a mention of a known member (directory hit),
    so that pseudonyms stay consistent per person and erasure can find mentions.
    """

    start: int
    end: int
    type: PiiType
    score: float
    member_id: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["type"] = str(self.type)
        if d["member_id"] is None:
            del d["member_id"]
        return d


def resolve(spans: list[Span]) -> list[Span]:
    """Keep a non-overlapping subset: higher priority, then member hits, longer, higher score."""
    if len(spans) <= 1:
        return list(spans)
    ranked = sorted(
        spans,
        key=lambda s: (
            -PRIORITY[s.type],
            s.member_id is None,
            -(s.end - s.start),
            -s.score,
            s.start,
        ),
    )
    kept: list[Span] = []
    for s in ranked:
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    kept.sort(key=lambda s: (s.start, s.end))
    return kept
