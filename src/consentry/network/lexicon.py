"""Word lists for the synthetic network: names, companies, skills, places, occupations.

Everything ships with the package, so the generator gives the same network on every
machine: names, companies, skills and places in `data/lexicon.json`, and the ESCO
occupations (European Commission; reuse authorised with acknowledgement of the source)
as `data/esco_occupations.tsv.gz`, their preferred labels and the first sentence of
each description, which give the job matcher realistic titles and descriptions.
A platform's own ESCO `occupations_en.csv` can be passed instead (`--occupations`).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

PACKAGED = "esco_occupations.tsv.gz"


@dataclass(frozen=True)
class Occupations:
    titles: list[str]
    descriptions: list[str]
    source: str


@lru_cache(maxsize=1)
def lexicon() -> dict:
    text = resources.files("consentry.network").joinpath("data", "lexicon.json").read_text("utf-8")
    return json.loads(text)


def packaged_occupations() -> Occupations:
    """The ESCO occupations shipped with the package (derived from `occupations_en.csv`
    by `load_occupations`, sorted by concept URI)."""
    raw = resources.files("consentry.network").joinpath("data", PACKAGED).read_bytes()
    lines = [ln for ln in gzip.decompress(raw).decode("utf-8").splitlines() if not ln.startswith("#")]
    rows = [ln.split("\t") for ln in lines[1:]]
    return Occupations([r[0] for r in rows], [r[1] for r in rows], PACKAGED)


def load_occupations(path: str | Path | None = None) -> Occupations:
    """ESCO occupations (label, first sentence of the description), sorted by URI for stability.

    `path` names an ESCO `occupations_en.csv`; without it, the packaged copy.
    """
    if path is None:
        return packaged_occupations()
    csv = Path(path)
    if not csv.is_file():
        raise FileNotFoundError(f"{csv}: no such ESCO occupations CSV")
    table = pacsv.read_csv(
        csv,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            include_columns=["conceptUri", "preferredLabel", "description"],
            column_types={c: pa.string() for c in ("conceptUri", "preferredLabel", "description")},
        ),
    ).sort_by("conceptUri")
    titles, descs = [], []
    for label, desc in zip(table["preferredLabel"].to_pylist(), table["description"].to_pylist()):
        if not label:
            continue
        first = (desc or "").replace("\n", " ").split(". ")[0].strip().rstrip(".")
        titles.append(label.strip())
        descs.append((first + ".") if first else f"We are looking for an experienced {label}.")
    return Occupations(titles, descs, str(csv))
