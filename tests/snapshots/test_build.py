"""Snapshot builds: nothing lost, deterministic, laid out as DESIGN.md says."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot
from consentry.snapshots.kernel import DATA_SCHEMA, shard_of

from .conftest import AS_OF


def _data(snap: catalog.Snapshot):
    return pq.read_table([str(f) for f in snap.data_files()], partitioning=None) if snap.data_files() else None


def _file_hashes(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*.parquet"))}


def test_every_input_item_lands_in_exactly_one_place(tmp_path: Path, network: Path, redaction_key: None) -> None:
    """Items in data, excluded and quarantine are disjoint and together are the whole input."""
    import shutil

    from consentry.network import synth

    src = tmp_path / "mixed"  # items as JSON lines (with one malformed row), the rest Parquet
    src.mkdir()
    for f in network.glob("*.parquet"):
        if f.name != "items.parquet":
            shutil.copy(f, src / f.name)
    synth.parquet_to_jsonl(network / "items.parquet", src / "items.jsonl")
    lines = (src / "items.jsonl").read_text().splitlines()
    bad = json.loads(lines[0])
    bad.update(item_id="bad-1", created_at="not a time")
    lines.append(json.dumps(bad))
    (src / "items.jsonl").write_text("\n".join(lines) + "\n")

    m = build_snapshot(src, "linkedin-2024", "genai_training", AS_OF, tmp_path / "snaps", workers=1)
    snap = catalog.load(tmp_path / "snaps", "genai_training", m.version)
    data_ids = _data(snap).column("item_id").to_pylist()
    excluded = pq.read_table(snap.path / layout.EXCLUDED)
    excl_ids = excluded.column("item_id").to_pylist()
    quarantined = [json.loads(x) for x in (snap.path / layout.QUARANTINE).read_text().splitlines() if x]
    q_ids = {(q["file"], q["row"]) for q in quarantined if q["table"] == "items"}
    assert len(set(data_ids)) == len(data_ids) and len(set(excl_ids)) == len(excl_ids)
    assert not set(data_ids) & set(excl_ids)
    assert len(data_ids) + len(excl_ids) + len(q_ids) == len(lines)
    assert "bad-1" not in data_ids and "bad-1" not in excl_ids and q_ids
    assert all(r for r in excluded.column("reasons").to_pylist())  # every exclusion has a reason
    assert m.counts["input_items"] == len(lines)
    assert sum(m.counts["by_reason"].values()) >= len(excl_ids)


def test_deterministic_across_worker_counts(tmp_path: Path, network: Path, redaction_key: None) -> None:
    # Two roots: each build is v0001, and the data files name their snapshot in their metadata.
    ra, rb = tmp_path / "a", tmp_path / "b"
    a = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, ra, workers=1)
    b = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, rb, workers=2)
    assert (a.version, b.version) == ("v0001", "v0001")
    assert a.content_hash == b.content_hash
    sa, sb = catalog.load(ra, "genai_training", "v0001"), catalog.load(rb, "genai_training", "v0001")
    assert _file_hashes(sa.path) == _file_hashes(sb.path)  # byte-identical Parquet too
    assert a.counts["included"] > 0 and a.counts["excluded"] > 0


def test_layout_lineage_and_hashes(tmp_path: Path, network: Path, redaction_key: None) -> None:
    m = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, tmp_path, shards=4, workers=2)
    snap = catalog.load(tmp_path, "genai_training")
    assert snap.version == m.version and snap.manifest.content_hash == m.content_hash
    assert sorted(p.name for p in (snap.path / "data").iterdir()) == [f"shard={i:02d}" for i in range(4)]
    lineage = pq.read_table(snap.path / layout.LINEAGE)
    total = 0
    for shard in range(4):
        t = pq.read_table(layout.shard_file(snap.path, shard))
        assert t.schema.names == DATA_SCHEMA.names
        ids = t.column("item_id").to_pylist()
        assert ids == sorted(ids)
        for row in t.to_pylist():
            assert shard_of(row["member_id"], 4) == shard
            assert row["content_hash"] == hashlib.sha256(row["text"].encode()).hexdigest()
        total += t.num_rows
    assert lineage.num_rows == total == m.counts["included"]
    assert set(m.shard_hashes) == {f"{i:02d}" for i in range(4)}
    assert m.pack == "linkedin-2024" and m.pack_version and m.engine == "duckdb"
    assert m.inputs["watermarks"]["items"]
    members = set(lineage.column("member_id").to_pylist())
    inter = pq.read_table(snap.path / layout.INTERACTIONS)
    assert set(inter.column("member_id").to_pylist()) <= members
    assert (snap.path / layout.JOBS).exists()


def test_diff_and_stale_tmp_cleanup(tmp_path: Path, network: Path, redaction_key: None) -> None:
    root = tmp_path / "snaps"
    build_snapshot(network, "linkedin-2024", "genai_training", "2024-06-01", root, workers=2)
    stale = root / "genai_training" / ".tmp-deadbeef"
    (stale / "data").mkdir(parents=True)
    build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, root, workers=2)
    assert not stale.exists()
    a, b = catalog.list_snapshots(root)
    d = catalog.diff(a, b)
    assert d.summary["added"] + d.summary["removed"] > 0
    excluded_b = {r["item_id"]: r["reasons"] for r in pq.read_table(b.path / layout.EXCLUDED).to_pylist()}
    for r in d.removed.to_pylist():  # every removal is explained by B's exclusion log
        assert r["reasons"] and (r["item_id"] not in excluded_b or set(r["reasons"]) == set(excluded_b[r["item_id"]]))
