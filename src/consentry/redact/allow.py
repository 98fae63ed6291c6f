"""Terms the platform knows are not people: skills, companies, products, places.

The PERSON recogniser guesses from the shape and context of words, so on a
professional network it also takes "Spark", "Rust" or "Pied Piper Labs" for names,
and masking them strips the very skills and employers that job matching learns from.
The platform knows these terms (its skills taxonomy, its company pages), as Presidio's
`allow_list` lets a caller say. A PERSON guess that lies inside an occurrence of an
allowed term (whole words, any case) is not redacted.

Only guesses: a mention of a member found through the member directory, a name that
is always redacted (`RedactConfig.always_redact`) and validated structured data
(emails, phones, cards...) are redacted whatever this list says.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import ahocorasick

from consentry.redact.directory import _fold, _norm
from consentry.redact.spans import Span
from consentry.vocab import PiiType


class AllowList:
    """An Aho-Corasick automaton over the allowed terms (picklable; C speed for many terms)."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._auto = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for term in terms:
            key = _norm(term)
            if key:
                self._auto.add_word(key, len(key))
        self.size = len(self._auto)
        if self.size:
            self._auto.make_automaton()

    def occurrences(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each allowed term in `text`, as whole words."""
        if not self.size:
            return []
        n = len(text)
        out = []
        for end_idx, length in self._auto.iter(_fold(text)):
            end = end_idx + 1
            start = end - length
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_@"):
                continue
            if end < n and (text[end].isalnum() or text[end] == "_"):
                continue
            out.append((start, end))
        return out

    def drop_allowed(self, text: str, spans: list[Span]) -> list[Span]:
        """`spans` less the PERSON guesses that lie inside an allowed term."""
        if not self.size or not any(s.type is PiiType.PERSON for s in spans):
            return spans
        occ = self.occurrences(text)
        if not occ:
            return spans
        return [s for s in spans if not (s.type is PiiType.PERSON and _inside(text, s, occ))]


def _inside(text: str, span: Span, occ: list[tuple[int, int]]) -> bool:
    start = span.start + (text[span.start] == "#")  # "#Rust" is the term too
    return any(a <= start and span.end <= b for a, b in occ)


def read_terms(path: Path) -> tuple[str, ...]:
    """An allow-list file: one term per line; blank lines and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 ({exc})") from exc
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
