"""Public text for the writing assistant's shared base model: no member wrote any of it.

Why: a byte-level model trained from scratch on one shard (1/16 of a small snapshot)
memorises its few posts and generalises badly, so the averaged ensemble fell 30%
behind one model trained on everything. SISA's remedy (Bourtoule et al., Sec. on
transfer learning) is to start every constituent from a base trained on public
data: the base holds no member's data, so no erasure ever has to retrain it, and
each shard only has to learn what is specific to its members.

Corpora:
- ``python-docs``: the help topics of Python's own documentation (``pydoc_data``,
  PSF licence), English prose present in every Python installation, so the base
  needs no download and is the same on every machine with the same Python;
- a path: a UTF-8 text file of public text, paragraphs separated by blank lines.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MIN_CHARS = 40  # shorter paragraphs are headings and code fragments


class CorpusError(ValueError):
    """A public corpus that cannot be read; names the corpus and what is wrong."""


def public_corpus(name: str) -> list[str]:
    """The corpus's paragraphs, in a fixed order."""
    if name == "python-docs":
        try:
            from pydoc_data.topics import topics
        except ImportError as exc:  # some distributions split the docs out
            raise CorpusError("public corpus 'python-docs': this Python has no pydoc_data module; "
                              "give a text file instead (base_corpus=PATH) or none") from exc
        raw = [topics[k] for k in sorted(topics)]
    else:
        path = Path(name)
        if not path.is_file():
            raise CorpusError(f"public corpus {name!r}: not 'python-docs' and no such file")
        try:
            raw = [path.read_text(encoding="utf-8")]
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: public corpus is not UTF-8 text ({exc})") from exc
    paras = [p.strip() for text in raw for p in text.split("\n\n")]
    paras = [p for p in paras if len(p) >= MIN_CHARS]
    if not paras:
        raise CorpusError(f"public corpus {name!r}: no paragraph of {MIN_CHARS} characters or more")
    return paras


def corpus_hash(paragraphs: list[str]) -> str:
    h = hashlib.sha256()
    for p in paragraphs:
        h.update(p.encode())
        h.update(b"\x1e")
    return h.hexdigest()
