"""The one batch API: texts in, spans out.

`find_spans` runs every enabled detector on each text, adds member-directory hits,
and resolves overlaps deterministically. It accepts Arrow string arrays (the engines'
currency) and plain Python lists alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pyarrow as pa

from consentry.redact.address import detect_address
from consentry.redact.allow import AllowList
from consentry.redact.directory import MemberDirectory
from consentry.redact.person import detect_person
from consentry.redact.phone import detect_phone
from consentry.redact.spans import Span, resolve
from consentry.redact.structured import (
    detect_credit_card,
    detect_email,
    detect_handle,
    detect_iban,
    detect_ip,
    detect_national_id,
    detect_url,
)
from consentry.vocab import PiiType

Detector = Callable[[str], list[Span]]

DETECTORS: dict[PiiType, Detector] = {
    PiiType.EMAIL: detect_email,
    PiiType.URL: detect_url,
    PiiType.IP_ADDRESS: detect_ip,
    PiiType.CREDIT_CARD: detect_credit_card,
    PiiType.IBAN: detect_iban,
    PiiType.NATIONAL_ID: detect_national_id,
    PiiType.PHONE: detect_phone,
    PiiType.STREET_ADDRESS: detect_address,
    PiiType.HANDLE: detect_handle,
    PiiType.PERSON: detect_person,
}
DEFAULT_TYPES: frozenset[PiiType] = frozenset(DETECTORS)


def _as_list(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> list[str | None]:
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return texts.to_pylist()
    return list(texts)


def normalize_types(types: Iterable[PiiType | str] | None) -> frozenset[PiiType]:
    if types is None:
        return DEFAULT_TYPES
    return frozenset(PiiType(t) for t in types)


def spans_for(
    text: str,
    types: frozenset[PiiType],
    directory: MemberDirectory | None = None,
    person_threshold: float | None = None,
    allow: AllowList | None = None,
) -> list[Span]:
    """All spans of one text, overlaps resolved; PERSON guesses inside an `allow`ed term are left out."""
    if not text:
        return []
    found: list[Span] = []
    for typ, det in DETECTORS.items():
        if typ in types:
            if typ is PiiType.PERSON:
                guessed = detect_person(text, person_threshold)
                found.extend(allow.drop_allowed(text, guessed) if allow is not None else guessed)
            else:
                found.extend(det(text))
    if directory is not None:
        found.extend(s for s in directory.find(text) if s.type in types)
    return resolve(_demote_weak_phones(found))


def _demote_weak_phones(found: list[Span]) -> list[Span]:
    """A context-free digit group inside a street address is its house number, not a phone."""
    addrs = [s for s in found if s.type is PiiType.STREET_ADDRESS]
    if not addrs:
        return found
    return [
        s for s in found
        if not (s.type is PiiType.PHONE and s.score < 0.9 and any(a.start <= s.start and s.end <= a.end for a in addrs))
    ]


def find_spans(
    texts: pa.Array | pa.ChunkedArray | Sequence[str | None],
    *,
    types: Iterable[PiiType | str] | None = None,
    directory: MemberDirectory | None = None,
    detectors: Iterable[PiiType | str] | None = None,
    person_threshold: float | None = None,
) -> list[list[Span]]:
    """Spans per text (character offsets), in input order; a null text has no spans.

    `types` (alias `detectors`, the name in docs/architecture.md) limits the types
    searched; the default is every type with a detector. `person_threshold` trades
    PERSON precision for recall (default: the shipped model's threshold).
    """
    wanted = normalize_types(types if types is not None else detectors)
    return [spans_for(t, wanted, directory, person_threshold) if t else [] for t in _as_list(texts)]
