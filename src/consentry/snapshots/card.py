"""The dataset card (README.md) of a snapshot, built from its manifest and nothing else.

With a card whose YAML front matter declares `configs:` over `data/shard=*/*.parquet`,
`datasets.load_dataset(<snapshot dir>)` reads the training rows and only them (not
`excluded.parquet`, `lineage.parquet` or the other logs beside them). The text says
what the data may be used for, under which policy pack and as of when, with counts,
content hash and provenance, all taken from the manifest: the card is rewritten
whenever the manifest is (a build, a forget run), so it never drifts from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from consentry.snapshots import layout

CARD = "README.md"
DATA_GLOB = f"{layout.DATA}/shard=*/*.parquet"

LICENCE_TEXT = (
    "Not an open licence. Member content used under the members' consent and the platform's "
    "terms, for the purpose below only, as decided by the policy pack below. Do not copy it "
    "outside the systems that consentry governs; a forget run may remove rows at any time."
)


def _front_matter(m: Any, ref: str) -> str:
    meta = {
        "pretty_name": f"consentry snapshot {ref}",
        "license": "other",
        "license_name": "consented-member-data",
        "license_details": LICENCE_TEXT,
        "tags": ["consentry", f"purpose:{m.purpose}"],
        "configs": [
            {
                "config_name": "default",
                "default": True,
                "data_files": [{"split": "train", "path": DATA_GLOB}],
            }
        ],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def _table(rows: list[tuple[str, Any]]) -> str:
    out = ["| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(out) + "\n"


def render(m: Any, version: str) -> str:
    """The card's text for manifest `m` published as `version`."""
    ref = f"{m.purpose}/{version}"
    counts = m.counts or {}
    rows = [
        ("purpose", m.purpose),
        ("version", version),
        ("policy pack", m.pack_ref),
        ("propagation", m.propagation or "-"),
        ("as of", m.as_of.isoformat()),
        ("engine", m.engine),
        ("shards", m.shards),
        ("created", m.created_at.isoformat()),
        ("rows (training items)", counts.get("included", "-")),
        ("excluded items", counts.get("excluded", "-")),
        ("quarantined input rows", counts.get("quarantined_rows", "-")),
        ("forgotten since build", counts.get("forgotten", 0)),
        ("content hash", f"`{m.content_hash}`"),
    ]
    by_reason = counts.get("by_reason") or {}
    reasons = "".join(f"- `{k}`: {v}\n" for k, v in sorted(by_reason.items())) or "- none\n"
    prov_lines = _bullets(getattr(m, "provenance", None) or {}) or "- not recorded\n"
    forgets = (
        "".join(
            f"- {e.at.isoformat()} run `{e.run_id}`: {e.items_removed} items of {e.members} members removed\n"
            for e in m.forget_history
        )
        or "- none\n"
    )
    return (
        _front_matter(m, ref)
        + f"\n# consentry snapshot `{ref}`\n\n"
        + "Generated from `manifest.json` by consentry; do not edit (it is rewritten with the manifest).\n\n"
        + f"## Licence\n\n{LICENCE_TEXT}\n\n"
        + "## Summary\n\n"
        + _table(rows)
        + "\n## Loading\n\n"
        + "The training rows are `data/shard=NN/part-*.parquet` (`shard` is an int32 column in "
        + 'each file). `datasets.load_dataset("<this dir>")`, `pyarrow.dataset.dataset("<this dir>/data")` '
        + 'and `polars.scan_parquet("<this dir>/data")` read them as they are; DuckDB needs '
        + "`read_parquet('<this dir>/data/*/*.parquet', hive_partitioning = false)` (else it reads "
        + "`shard` from the directory name, as VARCHAR). Each file's key-value metadata names the "
        + "snapshot, the pack, as-of and the shard's content hash (`consentry.*` keys).\n"
        + f"\n## Excluded, by reason\n\n{reasons}"
        + f"\n## Forget runs applied\n\n{forgets}"
        + f"\n## Provenance\n\n{prov_lines}"
    )


def _bullets(d: dict[str, Any], indent: str = "") -> str:
    """Nested bullets: a leaf dict on one line (`version` 1.1.2, `sha256` ...), deeper dicts nested."""
    out = ""
    for k, v in sorted(d.items()):
        if isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()):
            out += f"{indent}- {k}:\n" + _bullets(v, indent + "  ")
        elif isinstance(v, dict):
            out += f"{indent}- {k}: " + ", ".join(f"{a} `{b}`" for a, b in sorted(v.items())) + "\n"
        else:
            out += f"{indent}- {k}: `{v}`\n"
    return out


def write(snapshot_dir: Path, m: Any) -> None:
    """(Re)write the card of the snapshot at `snapshot_dir` from manifest `m`."""
    version = m.version or Path(snapshot_dir).name
    layout.write_atomic(Path(snapshot_dir) / CARD, render(m, version).encode("utf-8"))
