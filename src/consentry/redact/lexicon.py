"""Word lists shipped with the package (small text files under `redact/data/`).

`common_words.txt` holds frequent lowercase English words (derived from the public
training sections of WNUT-17 and BTC, see `consentry.redact.train_person`); names that
are also such words ("Will", "Grace", "Young", listed in `name_words.txt`) need
stronger evidence before they are treated as a person.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def word_set(name: str) -> frozenset[str]:
    """One lowercase word per line; a missing file is an empty set (detectors degrade, never crash)."""
    try:
        text = resources.files("consentry.redact").joinpath("data", name).read_text("utf-8")
    except FileNotFoundError:
        return frozenset()
    return frozenset(
        w.lower() for line in text.splitlines() if not line.startswith("#") for w in line.split()
    )


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Training-derived frequent words plus `name_words.txt` (words that are also names)."""
    return word_set("common_words.txt") | word_set("name_words.txt")
