"""Street addresses: house number + street name + street-type word, in the common
English, Romance, Germanic and Nordic orders, plus unit designators (Apt., Suite) and
US military (PSC/Box). A street address always carries a number, so texts without a
digit are skipped at once.
"""

from __future__ import annotations

import re

from consentry.redact.spans import Span
from consentry.vocab import PiiType

_W = r"[A-ZÀ-ÖØ-Þ][\w'’.-]*"
_EN_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Square|Sq|Squares|Way|Terrace|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Crescent|Close|"
    r"Streets|Gardens|Grove|Row|Mews|Hill|Trail|Alley|Plaza|Fort|Walk"
)
_SUFFIXES = (
    r"strasse|straße|str\.|gasse|weg|platz|allee|gatan|vägen|väg|gränd|gade|vej|"
    r"veien|vegen|gata|katu|tie|kuja|polku|laan|straat|plein|gracht|utca|ulica|ul\.|cesta"
)
_PREFIX = r"Via|Viale|Piazza|Corso|Rua|Rue|Calle|Avenida|Av\.|Avda\.?|Plaza|Paseo|Camino|Chemin|Allée|Ulica|ul\."
_NUM = r"\d{1,5}[A-Za-z]?(?:[/-]\d{1,4})?"

_PATTERNS = [
    # 1668 Glyn St / 14 Crown Street
    re.compile(rf"\b{_NUM}(?:\s+{_NUM})?\s+(?:{_W}\s+){{0,4}}(?:{_EN_TYPES})\b\.?(?:\s+(?:Apt\.?|Suite|Unit)\s*#?\d+)?"),
    # Koskikatu 25 / Hammarvägen 15 / Brucker Bundesstrasse 31
    re.compile(rf"\b(?:{_W}\s+){{0,2}}[A-ZÀ-ÖØ-Þ][\w-]*?(?:{_SUFFIXES})\s+{_NUM}\b", re.UNICODE),
    # Via Franscini 71 / Rua do Arenque 1634 / 12 rue de la Paix
    re.compile(rf"\b(?:{_PREFIX})\s+(?:[\w'’-]+\s+){{0,4}}?{_NUM}\b"),
    re.compile(rf"\b{_NUM},?\s+(?:[Rr]ue|[Aa]venue|[Bb]oulevard|Via|Calle|Rua)\s+(?:[\w'’-]+\s*){{1,4}}"),
    # Apt. 864 / Suite 501
    re.compile(r"\b(?:Apt\.?|Apartment|Suite|Ste\.|Unit|Flat)\s*#?\d{1,5}[A-Za-z]?\b"),
    # PSC 0413, Box 8144 / APO AA 42323
    re.compile(r"\bPSC\s+\d{4},?\s+Box\s+\d{4}\b|\b(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5}\b"),
]
_DIGIT = re.compile(r"\d")


def detect_address(text: str) -> list[Span]:
    if not _DIGIT.search(text):
        return []
    out = []
    for pat in _PATTERNS:
        for m in pat.finditer(text):
            out.append(Span(m.start(), m.end(), PiiType.STREET_ADDRESS, 0.7))
    return out
