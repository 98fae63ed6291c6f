"""Phone numbers in international and national formats.

Two paths: text with a `+` or `00` prefix is handed to phonenumbers' own matcher
(real validation of country codes and lengths); national formats without a country
code ("(37) 788-063", "0490 75 40 81", "555-123-4567x12") are found by a shape regex
and kept only when the digit count is plausible and the candidate is not a date, a
year, a time, a price or a plain integer. Bare unseparated digit runs count only next
to a phone word ("call", "tel", ...), which keeps ids and years out.
"""

from __future__ import annotations

import re

import phonenumbers

from consentry.redact.spans import Span
from consentry.vocab import PiiType

_SHAPE = re.compile(
    r"(?<![\w+.-])"
    r"(?:\+\d{1,3}[ .-]?(?:\(0\) ?)?|00\d{1,3}[ .-]|\(\d{1,4}\) ?)?"
    r"(?:\d{7,15}|\d{1,5}(?:[ .-]{1,2}\(?\d{1,7}\)?){0,5})"
    r"(?: ?(?:x|ext\.?|#) ?\d{1,5})?"
    r"(?!\w|-\d|\.\d|:\d)"
)
_CONTEXT = re.compile(
    r"\b(?:call|phone|tel|telephone|mobile|cell|fax|contact|reach|whatsapp|text me|number|"
    r"dial|ring|answering|ph|mob)\b",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(
    r"\b(?:licen[cs]e|account|acct|order|invoice|ticket|passport|ssn|social security|zip|postal|"
    r"postcode|apt|suite|box|unit|id|iban|card|isbn|ref|reference|tracking)\b",
    re.IGNORECASE,
)
_POSTAL = re.compile(r"^\d{4,5}-\d{3}$")
_FOLLOWED_BY_WORD = re.compile(
    r"[ \t]+(?:[A-ZÀ-Þ]|rue\b|via\b|calle\b|(?:\w+[ \t]+)?(?:st|street|ave?|avenue|rd|road|dr|drive|lane|ln|blvd)\b)"
)
_AFTER = re.compile(r"^[\s,;:-]*(?:office|fax|mobile|cell|home|work|tel|phone)\b", re.IGNORECASE)
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_DATE_IN = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")
_NONDIGIT = re.compile(r"\D")


def _plausible(cand: str, text: str, start: int) -> float:
    """A score in (0, 1] when the candidate looks like a phone number, else 0."""
    core = re.split(r"\s?(?:x|ext\.?|#)\s?\d", cand, maxsplit=1)[0]
    digits = _NONDIGIT.sub("", core)
    n = len(digits)
    if n < 7 or n > 15:
        return 0.0
    if _DATE.match(core.strip()) or _DATE_IN.search(core):
        return 0.0
    groups = re.findall(r"\d+", core)
    if len(groups) > 1 and all(_YEAR.match(g) for g in groups):
        return 0.0  # "1999 2004"
    if len(set(digits)) <= 2:
        return 0.0
    window = text[max(0, start - 40): start]
    context = bool(_CONTEXT.search(window)) or bool(_AFTER.match(text, start + len(cand)))
    if cand.startswith("+") or cand.startswith("00"):
        return 0.95
    near = " ".join(text[max(0, start - 40): start].rsplit("\n", 1)[-1].split()[-3:])
    if _NEGATIVE.search(near) or _POSTAL.match(core):
        return 0.0  # "license number 5130634", "zip 75534-030", "Suite 541 6343"
    if not context and len(groups) == 2 and _FOLLOWED_BY_WORD.match(text, start + len(cand)):
        return 0.0  # "at 3747 3911 Fourth Ave": a house number, not a phone
    if len(groups) == 1:
        # a bare digit run: only next to a phone word, and of phone length
        return 0.85 if context and 7 <= n <= 12 else 0.0
    if "(" in core or "x" in cand:
        return 0.9
    if len(groups) == 2 and max(len(g) for g in groups) <= 2:
        return 0.0
    # money / decimals: "1.234.567" with 3-digit groups after dots is a number
    if "." in core and " " not in core and all(len(g) == 3 for g in groups[1:]):
        return 0.0 if not context else 0.7
    return 0.9 if context else 0.75


def detect_phone(text: str) -> list[Span]:
    out: list[Span] = []
    taken: list[tuple[int, int]] = []
    if "+" in text:
        for m in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.POSSIBLE):
            if m.raw_string.startswith("+"):
                out.append(Span(m.start, m.end, PiiType.PHONE, 0.95))
                taken.append((m.start, m.end))
    for m in _SHAPE.finditer(text):
        s, e = m.start(), m.end()
        if any(s < te and e > ts for ts, te in taken):
            continue
        score = _plausible(m.group(), text, s)
        if score:
            out.append(Span(s, e, PiiType.PHONE, score))
    return out
