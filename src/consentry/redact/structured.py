"""Detectors for structured personal data: a cheap regex finds candidates, a validator
(checksums from python-stdnum, `ipaddress`, SSA rules) rejects look-alikes.

Each detector is `detect_x(text) -> list[Span]` and starts with a prefilter that
returns at once on texts that cannot contain a hit (most texts), which is where the
speed comes from.
"""

from __future__ import annotations

import ipaddress
import re

from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.es import dni as es_dni
from stdnum.it import codicefiscale as it_cf

from consentry.redact.spans import Span
from consentry.vocab import PiiType

# --- email -----------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)


def detect_email(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [Span(m.start(), m.end(), PiiType.EMAIL, 0.99) for m in _EMAIL.finditer(text)]


# --- URL -------------------------------------------------------------------------------
_TLDS = (
    "com|org|net|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|tv|ly|gl|gg|xyz|online|site|"
    "tech|store|blog|news|shop|cloud|live|page|us|uk|ca|au|nz|de|fr|es|it|nl|be|ch|at|se|no|"
    "dk|fi|pl|cz|sk|hu|ro|bg|gr|pt|ie|is|ee|lv|lt|si|hr|rs|ua|ru|tr|il|in|jp|cn|kr|tw|hk|sg|"
    "my|id|ph|th|vn|br|ar|mx|cl|pe|uy|za|ng|ke|eg|ma|cy|lu|li|mt"
)
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'`]+"
    r"|\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?\.)+(?:" + _TLDS + r")\b(?:/[^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_URL_TRAIL = ".,;:!?)]}'\""


def detect_url(text: str) -> list[Span]:
    if "." not in text:
        return []
    out = []
    for m in _URL.finditer(text):
        s, e = m.start(), m.end()
        if s > 0 and text[s - 1] == "@":  # the domain of an email address
            continue
        while e > s and text[e - 1] in _URL_TRAIL:
            e -= 1
        frag = text[s:e]
        if "/" not in frag and not frag.lower().startswith("www.") and frag.count(".") == 1:
            # bare "word.tld": accept only well-known generic TLDs, not "e.g"/"no.it"
            tld = frag.rsplit(".", 1)[1].lower()
            if tld not in {"com", "org", "net", "io", "gov", "edu", "info", "biz", "ly", "gl"} or len(frag) < 6:
                continue
        out.append(Span(s, e, PiiType.URL, 0.9))
    return out


# --- IP addresses ----------------------------------------------------------------------
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def detect_ip(text: str) -> list[Span]:
    out = []
    if "." in text:
        for m in _IPV4.finditer(text):
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            out.append(Span(m.start(), m.end(), PiiType.IP_ADDRESS, 0.95))
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            cand = m.group()
            if cand.count(":") < 2 or sum(c.isalnum() for c in cand) < 4:
                continue
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            out.append(Span(m.start(), m.end(), PiiType.IP_ADDRESS, 0.95))
    return out


# --- payment cards (Luhn) --------------------------------------------------------------
_CARD = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){11,18}(?![\w-])")


def detect_credit_card(text: str) -> list[Span]:
    out = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        # one digit repeated passes Luhn ("0000 0000 0000 0000") but is no card; two are
        # enough: the test cards every payment form documents ("4111 1111 1111 1111") are cards
        if 12 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits):
            out.append(Span(m.start(), m.end(), PiiType.CREDIT_CARD, 0.95))
    return out


# --- IBAN (mod 97) ---------------------------------------------------------------------
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}\b")


def detect_iban(text: str) -> list[Span]:
    out = []
    for m in _IBAN.finditer(text):
        cand = m.group()
        # trim trailing groups until it validates (a sentence may continue with digits)
        while cand:
            if std_iban.is_valid(cand.upper()):
                out.append(Span(m.start(), m.start() + len(cand), PiiType.IBAN, 0.99))
                break
            if " " not in cand:
                break
            cand = cand.rsplit(" ", 1)[0]
    return out


# --- national identifiers --------------------------------------------------------------
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social security|ss#|ss no)\b", re.IGNORECASE)
_ES_DNI = re.compile(r"\b\d{8}-?[A-Za-z]\b")
_IT_CF = re.compile(r"\b[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]\b")


def valid_ssn(area: str, group: str, serial: str) -> bool:
    """SSA rules: area never 000, 666 or 900-999; group never 00; serial never 0000."""
    return (
        area != "000" and area != "666" and not area.startswith("9")
        and group != "00" and serial != "0000"
    )


def detect_national_id(text: str) -> list[Span]:
    out = []
    for m in _SSN.finditer(text):
        area, sep, group, serial = m.groups()
        if not valid_ssn(area, group, serial):
            continue
        if not sep and not _SSN_CONTEXT.search(text):
            continue  # nine bare digits are too often something else
        out.append(Span(m.start(), m.end(), PiiType.NATIONAL_ID, 0.85 if sep else 0.7))
    for m in _ES_DNI.finditer(text):
        if es_dni.is_valid(m.group()):
            out.append(Span(m.start(), m.end(), PiiType.NATIONAL_ID, 0.9))
    for m in _IT_CF.finditer(text):
        if it_cf.is_valid(m.group().upper()):
            out.append(Span(m.start(), m.end(), PiiType.NATIONAL_ID, 0.95))
    return out


# --- @handles --------------------------------------------------------------------------
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{2,30}\b(?!@|\.\w)")


def detect_handle(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [Span(m.start(), m.end(), PiiType.HANDLE, 0.9) for m in _HANDLE.finditer(text)]


_DIGIT = re.compile(r"\d")


def detect_digits(text: str) -> list[Span]:
    """All digit-bearing detectors behind one shared prefilter."""
    if not _DIGIT.search(text):
        return []
    return detect_credit_card(text) + detect_iban(text) + detect_national_id(text)
