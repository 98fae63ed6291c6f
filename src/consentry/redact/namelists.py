"""The name and place lists the PERSON recogniser and the pseudonymiser use, as package data.

They are derived once, offline, from small PyPI packages and shipped in
`redact/data/` (gzipped, each with a header naming its sources and licences), so an
upgrade of those packages can never silently change what is redacted, and their
sha256 goes into every manifest and model version (`snapshots.provenance`):

- `first_names.tsv.gz`: first name → rank bucket (0 very common .. 3 rare), from
  `names` (US Census 1990 frequency lists), `gender-guesser` (Jörg Michael's
  nam_dict, about 45,000 first names of many countries) and `faker`'s person
  providers (some 70 locales, with and without accents);
- `last_names.tsv.gz`: surname → bucket (0 top 1,000 US .. 2 rare US, 3 other countries),
  from `names` and `faker`;
- `place_words.txt.gz`: lowercase words of GeoNames city (population ≥ 15,000),
  country and nationality names, from `geotext`;
- `fake_names.tsv.gz`: the common census names pseudonyms are drawn from, in order.

Rebuild with `python -m consentry.redact.namelists --build` (needs those packages,
the `dev` extra); nothing reads them at run time.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import importlib.metadata
import pkgutil
import sys
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

FILES = {
    "first_names": "first_names.tsv.gz",
    "last_names": "last_names.tsv.gz",
    "place_words": "place_words.txt.gz",
    "fake_names": "fake_names.tsv.gz",
}
_DATA = Path(__file__).resolve().parent / "data"
_SOURCES = {
    "names": "US Census 1990 name frequency lists via the `names` package (MIT)",
    "gender-guesser": "nam_dict.txt by Jörg Michael via `gender-guesser` (GNU FDL 1.2)",
    "faker": "person providers of `faker` (MIT)",
    "geotext": "GeoNames (CC BY 4.0) via `geotext` (MIT)",
}


def raw(name: str) -> bytes:
    """The shipped gzip bytes of one list (what its hash is computed over); b'' if absent."""
    try:
        return resources.files("consentry.redact").joinpath("data", FILES[name]).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return b""


def sha256(name: str) -> str | None:
    data = raw(name)
    return hashlib.sha256(data).hexdigest() if data else None


def _lines(name: str) -> list[str]:
    data = raw(name)
    if not data:
        return []
    return [
        ln
        for ln in gzip.decompress(data).decode("utf-8").splitlines()
        if ln and not ln.startswith("#")
    ]


def _ranked(name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in _lines(name):
        word, _, rank = ln.partition("\t")
        out[word] = int(rank)
    return out


@lru_cache(maxsize=1)
def first_names() -> dict[str, int]:
    return _ranked("first_names")


@lru_cache(maxsize=1)
def last_names() -> dict[str, int]:
    return _ranked("last_names")


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    return frozenset(_lines("place_words"))


@lru_cache(maxsize=1)
def fake_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(first names, last names) in list order: a pseudonym indexes into them."""
    firsts: list[str] = []
    lasts: list[str] = []
    for ln in _lines("fake_names"):
        kind, _, name = ln.partition("\t")
        (firsts if kind == "first" else lasts).append(name)
    return tuple(firsts), tuple(lasts)


# --- building the lists (offline, from the source packages) -------------------------------


def _read(pkg: str, *parts: str) -> str:
    return resources.files(pkg).joinpath(*parts).read_text("utf-8")


def _faker_names(*attrs: str) -> set[str]:
    import faker.providers.person as providers

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
                    out.add(
                        "".join(
                            c
                            for c in unicodedata.normalize("NFKD", low)
                            if not unicodedata.combining(c)
                        )
                    )
    return out


def _build_first() -> dict[str, int]:
    out: dict[str, int] = {}
    for fname in ("dist.female.first", "dist.male.first"):
        for rank, line in enumerate(_read("names", fname).splitlines()):
            if line.strip():
                name = line.split()[0].lower()
                out[name] = min(out.get(name, 3), 0 if rank < 200 else 1 if rank < 1000 else 2)
    for line in _read("gender_guesser", "data", "nam_dict.txt").splitlines():
        if line.startswith("#") or len(line) < 30:
            continue
        name = line[3:29].strip().replace("+", "-").lower()
        if name and " " not in name:
            out.setdefault(name, 3)
    for name in _faker_names("first_names", "first_names_male", "first_names_female"):
        out.setdefault(name, 3)
    return out


def _build_last() -> dict[str, int]:
    out: dict[str, int] = {}
    for rank, line in enumerate(_read("names", "dist.all.last").splitlines()):
        if line.strip():
            out.setdefault(line.split()[0].lower(), 0 if rank < 1000 else 1 if rank < 10000 else 2)
    for name in _faker_names("last_names"):
        out.setdefault(name, 3)
    return out


def _build_places() -> set[str]:
    words: set[str] = set()
    for line in _read("geotext", "data", "cities15000.txt").splitlines():
        parts = line.split("\t")
        if len(parts) > 2:
            words.update(parts[2].lower().split())
    for line in _read("geotext", "data", "countryInfo.txt").splitlines():
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) > 5:
            words.update(parts[4].lower().split())
            words.update(parts[5].lower().split())
    for line in _read("geotext", "data", "nationalities.txt").splitlines():
        if line and not line.startswith("#"):
            words.update(w.lower() for w in line.replace(":", " ").split() if w.isalpha())
    return {w for w in words if len(w) > 2}


def _build_fake() -> list[str]:
    def top(fname: str, n: int) -> list[str]:
        return [
            ln.split()[0].title() for ln in _read("names", fname).splitlines()[:n] if ln.strip()
        ]

    firsts = top("dist.female.first", 300) + top("dist.male.first", 300)
    return [f"first\t{n}" for n in firsts] + [f"last\t{n}" for n in top("dist.all.last", 600)]


def _header(title: str, pkgs: list[str], fmt: str) -> str:
    lines = [
        f"# {title}",
        f"# format: {fmt}",
        "# built by: python -m consentry.redact.namelists --build",
    ]
    for p in pkgs:
        lines.append(f"# source: {_SOURCES[p]}, {p}=={importlib.metadata.version(p)}")
    return "\n".join(lines) + "\n"


def build(dest: Path = _DATA) -> dict[str, str]:
    """Write the four lists from the source packages; returns name -> sha256 of the gzip bytes."""
    bodies = {
        "first_names": (
            _header(
                "first names -> rank bucket",
                ["names", "gender-guesser", "faker"],
                "name<TAB>bucket (0 very common .. 3 rare)",
            ),
            [f"{k}\t{v}" for k, v in sorted(_build_first().items())],
        ),
        "last_names": (
            _header(
                "surnames -> rank bucket",
                ["names", "faker"],
                "name<TAB>bucket (0 top 1,000 US .. 2 rare US, 3 other countries)",
            ),
            [f"{k}\t{v}" for k, v in sorted(_build_last().items())],
        ),
        "place_words": (
            _header("words of place names", ["geotext"], "one lowercase word a line"),
            sorted(_build_places()),
        ),
        "fake_names": (
            _header("pseudonym names, in order", ["names"], "first|last<TAB>Name"),
            _build_fake(),
        ),
    }
    out = {}
    for name, (head, rows) in bodies.items():
        data = gzip.compress((head + "\n".join(rows) + "\n").encode("utf-8"), mtime=0)
        (dest / FILES[name]).write_bytes(data)
        out[name] = hashlib.sha256(data).hexdigest()
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["--build"]:
        sys.exit("usage: python -m consentry.redact.namelists --build")
    for k, v in build().items():
        print(f"{FILES[k]}  sha256={v}")
