"""Mentions of known people: an Aho-Corasick automaton over the member directory.

The platform knows its members' display names and handles, so finding them is a
dictionary problem, not a statistical one: one pass over the lowercased text finds
every key (pyahocorasick, C speed, millions of keys), then cheap guards drop hits
that are inside a word, or are common words written in lower case. Possessives
("Ana Silva's") match because the apostrophe is a word boundary.

Keys per member: the display name, its first+last form when there are middle names,
and `@handle`. A key shared by two members is still redacted but carries no member_id
(pseudonyms then follow the surface form instead of a person).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick
import pyarrow as pa

from consentry.redact.lexicon import common_words
from consentry.redact.spans import Span
from consentry.vocab import PiiType

_WS = re.compile(r"\s+")


def _norm(name: str) -> str:
    return _fold(_WS.sub(" ", name.strip()))


def _fold(text: str) -> str:
    """Lowercase without changing length (offsets must stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class MemberDirectory:
    """Find mentions of members (and of non-members who asked to be redacted)."""

    def __init__(self) -> None:
        self._auto = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        self._ids: list[str | None] = []
        self._common = common_words()
        self._finalized = False

    # -- building ----------------------------------------------------------------------
    def _add(self, key: str, idx: int, is_handle: bool) -> None:
        # one int per key: (member index + 1) << 10 | key length << 1 | is_handle;
        # member index 0 means "shared by several people". Ints keep millions of keys small.
        if not key or (not is_handle and len(key) < 3) or len(key) > 500:
            return
        value = ((idx + 1) << 10) | (len(key) << 1) | int(is_handle)
        prev = self._auto.get(key, None)
        if prev is None:
            self._auto.add_word(key, value)
        elif prev >> 10 != idx + 1:
            self._auto.add_word(key, value & 0x3FF)

    def add(self, member_id: str | None, display_name: str | None, handle: str | None = None) -> None:
        """Add one person; names of one token are kept only when they are not common words."""
        idx = len(self._ids)
        self._ids.append(member_id)
        if display_name:
            name = _norm(display_name)
            toks = name.split(" ")
            if len(toks) >= 2 or (name not in self._common and len(name) >= 4):
                self._add(name, idx, False)
            if len(toks) >= 3:
                self._add(f"{toks[0]} {toks[-1]}", idx, False)
        if handle:
            h = handle.strip().lstrip("@").lower()
            if h:
                self._add("@" + h, idx, True)
        self._finalized = False

    @classmethod
    def from_members(cls, members: pa.Table, extra_names: Iterable[str] = ()) -> "MemberDirectory":
        """Build from an export `members` table (member_id, display_name, optional handle)."""
        d = cls()
        ids = members.column("member_id").to_pylist()
        names = members.column("display_name").to_pylist()
        handles = (
            members.column("handle").to_pylist() if "handle" in members.column_names else [None] * len(ids)
        )
        for mid, name, handle in zip(ids, names, handles):
            d.add(mid, name, handle)
        for name in extra_names:
            d.add(None, name)
        d.finalize()
        return d

    @classmethod
    def from_names(cls, names: Iterable[str]) -> "MemberDirectory":
        d = cls()
        for n in names:
            d.add(None, n)
        d.finalize()
        return d

    def finalize(self) -> None:
        if not self._finalized and len(self._auto):
            self._auto.make_automaton()
        self._finalized = True

    def __len__(self) -> int:
        return len(self._auto)

    # -- searching ---------------------------------------------------------------------
    def find(self, text: str) -> list[Span]:
        if not self._finalized:
            self.finalize()
        if not len(self._auto):
            return []
        low = _fold(text)
        n = len(text)
        out = []
        for end_idx, value in self._auto.iter(low):
            end = end_idx + 1
            start = end - ((value >> 1) & 0x1FF)
            is_handle = bool(value & 1)
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_@"):
                continue
            if end < n and (text[end].isalnum() or text[end] == "_"):
                continue
            if not is_handle and not self._case_ok(text[start:end]):
                continue
            idx = (value >> 10) - 1
            mid = None if idx < 0 else self._ids[idx]
            typ = PiiType.HANDLE if is_handle else PiiType.PERSON
            out.append(Span(start, end, typ, 0.99, mid))
        return out

    def _case_ok(self, surface: str) -> bool:
        """A lowercase mention counts unless every token of it is a common word."""
        toks = surface.split()
        if all(t[:1].isupper() for t in toks):
            return True
        return not all(t.lower() in self._common for t in toks)
