"""Word lists for the synthetic network: names, companies, skills, places, occupations.

Names, companies, skills and places ship with the package (`data/lexicon.json`), so
the generator runs anywhere. Occupations come from the ESCO occupation list when it
is available (realistic titles and descriptions for the job matcher), and fall back
to a small built-in list otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

ESCO_FILE = "esco_occupations_en.csv"


def default_occupations_csv() -> Path | None:
    """`$CONSENTRY_JOBS_DIR/esco_occupations_en.csv`, else `../shared/data/jobs/` beside the repository."""
    env = os.environ.get("CONSENTRY_JOBS_DIR")
    candidates = [Path(env) / ESCO_FILE] if env else []
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "data" / "jobs" / ESCO_FILE)
    return next((c for c in candidates if c.is_file()), None)


@dataclass(frozen=True)
class Occupations:
    titles: list[str]
    descriptions: list[str]
    source: str


@lru_cache(maxsize=1)
def lexicon() -> dict:
    text = resources.files("consentry.network").joinpath("data", "lexicon.json").read_text("utf-8")
    return json.loads(text)


def load_occupations(path: str | Path | None = None) -> Occupations:
    """ESCO occupations (label, first sentence of the description), sorted by URI for stability."""
    csv = Path(path) if path else default_occupations_csv()
    if csv is None or not csv.is_file():
        titles = list(lexicon()["occupations_fallback"])
        return Occupations(titles, [f"As a {t} you will join a friendly, growing team." for t in titles], "builtin")
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
