"""Replacement operators: mask with a type tag, or a keyed-HMAC pseudonym.

Pseudonyms are a pure function of (key, type, identity): the same member (or, for
people outside the directory, the same normalised surface form) gets the same fake
value everywhere in a snapshot, so a model still sees "one person, several
mentions", while the original cannot be recovered without the key. Fake names come
from the US census name lists (shipped as package data, `namelists`).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from consentry.redact import namelists
from consentry.redact.spans import Span
from consentry.vocab import PiiType

_WS = re.compile(r"\s+")


def mask(span: Span, surface: str) -> str:
    return f"[{span.type}]"


def _fake_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """First and last names (top of the census frequency lists: common, so non-identifying)."""
    firsts, lasts = namelists.fake_names()
    if not firsts or not lasts:  # the package data is missing: a tiny built-in list still works
        firsts = ("Alex", "Sam", "Robin", "Jordan", "Casey", "Morgan", "Taylor", "Jamie")
        lasts = ("Smith", "Lee", "Garcia", "Brown", "Kim", "Novak", "Silva", "Khan")
    return firsts, lasts


def _digest(key: bytes, span: Span, surface: str) -> bytes:
    ident = span.member_id if span.member_id else _WS.sub(" ", surface.strip()).lower()
    if span.type is PiiType.PERSON and span.member_id is None:
        ident = ident.removesuffix("'s").removesuffix("’s")
    return hmac.new(key, f"{span.type}\x1f{ident}".encode(), hashlib.sha256).digest()


def pseudonymise(span: Span, surface: str, key: bytes) -> str:
    d = _digest(key, span, surface)
    h = d.hex()
    n = int.from_bytes(d[:8], "big")
    t = span.type
    if t is PiiType.PERSON:
        firsts, lasts = _fake_names()
        first = firsts[n % len(firsts)]
        if len(surface.split()) == 1:
            return first
        return f"{first} {lasts[(n >> 20) % len(lasts)]}"
    if t is PiiType.HANDLE:
        return f"@user_{h[:8]}"
    if t is PiiType.EMAIL:
        return f"user_{h[:8]}@example.invalid"
    if t is PiiType.URL:
        return f"https://example.invalid/{h[:8]}"
    if t is PiiType.PHONE:
        return f"+1-555-01{n % 100:02d}"  # the 555-01xx range is reserved for fiction
    if t is PiiType.IP_ADDRESS:
        return f"192.0.2.{n % 256}"  # TEST-NET-1 (RFC 5737)
    return f"[{t}_{h[:6]}]"
