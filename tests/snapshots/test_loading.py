"""A snapshot any data tool loads: pyarrow, DuckDB, Polars and `datasets` read the same rows,
with `shard` as int32 in all four; a dataset card and key-value metadata built from the manifest;
the manifest's version and provenance filled."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import yaml

from consentry.forgetting import erase
from consentry.snapshots import card, catalog, kernel, keys, layout
from consentry.snapshots.build import build_snapshot
from consentry.snapshots.manifest import Manifest

from .conftest import AS_OF

PURPOSE = "genai_training"


@pytest.fixture(scope="module")
def snap(
    tmp_path_factory: pytest.TempPathFactory, network: Path, redaction_key: None
) -> catalog.Snapshot:
    root = tmp_path_factory.mktemp("snaps")
    build_snapshot(network, "linkedin-2024", PURPOSE, AS_OF, root, shards=4, workers=1)
    return catalog.load(root, PURPOSE)


def _ids_from_lineage(s: catalog.Snapshot) -> list[tuple[str, int]]:
    t = pq.read_table(s.path / layout.LINEAGE)
    return sorted(zip(t.column("item_id").to_pylist(), t.column("shard").to_pylist(), strict=True))


def test_four_tools_load_the_training_rows_with_shard_int32(
    snap: catalog.Snapshot, tmp_path: Path
) -> None:
    polars = pytest.importorskip("polars")
    datasets = pytest.importorskip("datasets")
    want = _ids_from_lineage(snap)
    assert want and snap.manifest.counts["included"] == len(want)
    data = snap.path / layout.DATA

    for partitioning in (None, "hive"):  # pyarrow, with or without hive discovery
        t = pads.dataset(data, format="parquet", partitioning=partitioning).to_table()
        assert t.schema.field("shard").type == pa.int32()
        assert sorted(zip(t["item_id"].to_pylist(), t["shard"].to_pylist(), strict=True)) == want

    rel = duckdb.sql(
        f"SELECT item_id, shard FROM read_parquet('{data}/*/*.parquet', hive_partitioning=false)"
    )
    assert dict(zip(rel.columns, rel.types, strict=True))["shard"] == "INTEGER"
    assert sorted(rel.fetchall()) == want

    df = polars.scan_parquet(data).collect()
    assert df.schema["shard"] == polars.Int32
    assert sorted(zip(df["item_id"].to_list(), df["shard"].to_list(), strict=True)) == want

    ds = datasets.load_dataset(str(snap.path), cache_dir=str(tmp_path / "hf"))
    assert list(ds) == ["train"]  # the training rows and nothing else (no excluded/lineage rows)
    train = ds["train"]
    assert train.features["shard"].dtype == "int32"
    assert train.column_names == kernel.DATA_SCHEMA.names
    assert sorted(zip(train["item_id"], train["shard"], strict=True)) == want


def test_card_is_built_from_the_manifest(snap: catalog.Snapshot) -> None:
    text = (snap.path / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["configs"][0]["data_files"] == [
        {"split": "train", "path": "data/shard=*/*.parquet"}
    ]
    m = snap.manifest
    assert f"| policy pack | {m.pack_ref} |" in text
    assert f"| as of | {m.as_of.isoformat()} |" in text
    assert f"| rows (training items) | {m.counts['included']} |" in text
    assert f"`{m.content_hash}`" in text and "## Licence" in text
    for reason, n in m.counts["by_reason"].items():
        assert f"- `{reason}`: {n}" in text
    assert f"- redaction_key_id: `{m.provenance['redaction_key_id']}`" in text
    assert text == card.render(Manifest.read(snap.path), "v0001")  # from the manifest, nothing else


def _meta(f: Path) -> dict[str, str]:
    kv = pq.read_metadata(f).metadata
    return {k.decode(): v.decode() for k, v in kv.items() if k.startswith(b"consentry.")}


def test_manifest_version_and_data_file_metadata(snap: catalog.Snapshot) -> None:
    raw = json.loads((snap.path / layout.MANIFEST).read_text())
    assert raw["version"] == snap.path.name == "v0001"
    m = snap.manifest
    files = snap.data_files()
    assert len(files) == m.shards
    for f in files:
        shard = f.parent.name.removeprefix("shard=")
        assert _meta(f) == {
            "consentry.snapshot": f"{PURPOSE}/v0001",
            "consentry.pack": m.pack_ref,
            "consentry.as_of": m.as_of.isoformat(),
            "consentry.shard": shard,
            "consentry.shard_content_hash": m.shard_hashes[shard],
        }


def test_forget_rewrites_card_and_metadata(
    tmp_path: Path, network: Path, redaction_key: None
) -> None:
    root = tmp_path / "snaps"
    build_snapshot(network, "linkedin-2024", PURPOSE, AS_OF, root, shards=4, workers=1)
    s = catalog.load(root, PURPOSE)
    lineage = pq.read_table(s.path / layout.LINEAGE)
    member, shard = lineage["member_id"][0].as_py(), lineage["shard"][0].as_py()
    gone = sum(1 for m in lineage["member_id"].to_pylist() if m == member)
    erase.remove(s, [erase.Target(reason="erased", members={member})], run_id="run-1")
    after = catalog.load(root, PURPOSE)
    raw = json.loads((after.path / layout.MANIFEST).read_text())
    assert raw["version"] == "v0001"
    text = (after.path / "README.md").read_text()
    assert f"| rows (training items) | {s.manifest.counts['included'] - gone} |" in text
    assert f"| forgotten since build | {gone} |" in text and "run `run-1`" in text
    f = layout.shard_file(after.path, shard)
    meta = _meta(f)
    assert meta["consentry.shard_content_hash"] == after.manifest.shard_hashes[f"{shard:02d}"]
    assert meta["consentry.shard_content_hash"] != s.manifest.shard_hashes[f"{shard:02d}"]
    assert meta["consentry.snapshot"] == f"{PURPOSE}/v0001"


def test_provenance_names_code_reference_data_and_key_id(snap: catalog.Snapshot) -> None:
    from consentry import __version__

    p = snap.manifest.provenance
    assert p["consentry"] == __version__
    model = resources.files("consentry.redact").joinpath("data", "person_model.json").read_bytes()
    assert p["person_model"]["sha256"] == hashlib.sha256(model).hexdigest()
    table = resources.files("consentry.redact").joinpath("data", "word_classes.tsv.gz").read_bytes()
    assert p["word_classes"]["sha256"] == hashlib.sha256(table).hexdigest()
    assert set(p["name_lists"]) == {"first_names", "last_names", "place_words", "fake_names"}
    assert all(len(v["sha256"]) == 64 for v in p["name_lists"].values())
    for db in ("iptocc", "iporigin"):
        assert p["geo"][db]["version"] and len(p["geo"][db]["sha256"]) == 64
    key = b"test-key-0123456789"
    assert p["redaction_key_id"] == keys.key_id(key)
    text = (snap.path / layout.MANIFEST).read_text() + (snap.path / "README.md").read_text()
    assert key.decode() not in text


def test_model_version_provenance_carries_the_snapshots(snap: catalog.Snapshot) -> None:
    from consentry import __version__
    from consentry.snapshots.provenance import for_model_version

    raw = json.loads((snap.path / layout.MANIFEST).read_text())
    for given in (raw, snap.manifest):
        p = for_model_version(given)
        assert (
            p["consentry"] == __version__
            and p["snapshot_consentry"] == raw["provenance"]["consentry"]
        )
        assert p["redaction_key_id"] == raw["provenance"]["redaction_key_id"]
        assert p["person_model"] == raw["provenance"]["person_model"]
