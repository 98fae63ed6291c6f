"""DuckDB and Spark (local mode) build the same snapshot: same content hash, same bytes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _files(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((path / "data").rglob("*.parquet"))}


def test_duckdb_and_spark_agree(tmp_path: Path, redaction_key: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no Java")
    from consentry.network import synth
    from consentry.snapshots import spark_engine

    net = tmp_path / "net"
    synth.generate(net, members=40, seed=5, progress=False)
    # Two roots, so both are v0001: data files name their snapshot in their key-value metadata.
    root, sroot = tmp_path / "snaps", tmp_path / "spark-snaps"
    d = build_snapshot(net, "linkedin-2024", "genai_training", AS_OF, root, workers=2, shards=4)
    monkeypatch.setenv("CONSENTRY_SPARK_PARTITIONS", "1")
    spark = spark_engine.session()
    try:
        s = build_snapshot(net, "linkedin-2024", "genai_training", AS_OF, sroot, engine="spark",
                           shards=4, spark=spark)
    finally:
        spark.stop()
    assert s.engine == "spark" and d.engine == "duckdb"
    assert d.counts["included"] > 0
    assert (s.counts["included"], s.counts["excluded"]) == (d.counts["included"], d.counts["excluded"])
    assert s.content_hash == d.content_hash
    assert d.version == s.version == "v0001"
    assert _files(root / "genai_training" / d.version) == _files(sroot / "genai_training" / s.version)
