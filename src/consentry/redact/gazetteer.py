"""First- and last-name lists used as features by the PERSON recogniser.

They are read from two small PyPI packages rather than copied into ours: `names`
(US census 1990 first and last names with frequency ranks) and `gender-guesser`
(about 45,000 first names from many countries, Jörg Michael's nam_dict). Either may
be absent: the recogniser then runs with weaker features, never fails.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


def _read(pkg: str, *parts: str) -> str | None:
    try:
        return resources.files(pkg).joinpath(*parts).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, UnicodeDecodeError):
        return None


@lru_cache(maxsize=1)
def first_names() -> dict[str, int]:
    """lowercase first name -> rank bucket (0 = very common .. 3 = rare)."""
    out: dict[str, int] = {}
    for fname in ("dist.female.first", "dist.male.first"):
        text = _read("names", fname) or ""
        for rank, line in enumerate(text.splitlines()):
            if line.strip():
                name = line.split()[0].lower()
                out[name] = min(out.get(name, 3), 0 if rank < 200 else 1 if rank < 1000 else 2)
    text = _read("gender_guesser", "data", "nam_dict.txt") or ""
    for line in text.splitlines():
        if line.startswith("#") or len(line) < 30:
            continue
        name = line[3:29].strip().replace("+", "-").lower()
        if name and " " not in name:
            out.setdefault(name, 3)
    return out


@lru_cache(maxsize=1)
def last_names() -> dict[str, int]:
    """lowercase surname -> rank bucket (0 = top 1,000 .. 2 = rare)."""
    out: dict[str, int] = {}
    text = _read("names", "dist.all.last") or ""
    for rank, line in enumerate(text.splitlines()):
        if line.strip():
            out.setdefault(line.split()[0].lower(), 0 if rank < 1000 else 1 if rank < 10000 else 2)
    return out


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Lowercase words of city (population >= 15,000), country and nationality names.

    From GeoNames via the `geotext` package. A capitalised word that names a place is
    weaker evidence of a person ("Austin", "Paris"); the model weighs it.
    """
    words: set[str] = set()
    cities = _read("geotext", "data", "cities15000.txt") or ""
    for line in cities.splitlines():
        parts = line.split("\t")
        if len(parts) > 2:
            words.update(parts[2].lower().split())
    countries = _read("geotext", "data", "countryInfo.txt") or ""
    for line in countries.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) > 5:
            words.update(parts[4].lower().split())
            words.update(parts[5].lower().split())
    nats = _read("geotext", "data", "nationalities.txt") or ""
    for line in nats.splitlines():
        if line and not line.startswith("#"):
            words.update(w.lower() for w in line.replace(":", " ").split() if w.isalpha())
    return frozenset(w for w in words if len(w) > 2)
