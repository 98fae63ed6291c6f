"""Snapshot builds and forget runs leave OpenLineage events a data catalog can ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from consentry.settings import Settings
from consentry.snapshots import layout
from consentry.snapshots.build import build_snapshot
from tests.openlineage_spec import read_events, validate_event

from .conftest import AS_OF


def test_build_and_forget_emit_valid_runs_with_their_outputs(home: Path, network: Path, redaction_key: None) -> None:
    from consentry.forgetting.run import forget
    from consentry.ledger.store import Ledger

    settings = Settings()
    ledger = Ledger(settings.ledger).create()
    manifest = build_snapshot(network, "strict", "ml_personalization", AS_OF, settings.snapshots,
                              workers=1, shards=2, ledger=ledger)
    snap = settings.snapshots / "ml_personalization" / manifest.version
    rows_built = sum(pq.ParquetFile(f).metadata.num_rows for f in (snap / layout.DATA).rglob("*.parquet"))
    member = pq.read_table(snap / layout.LINEAGE, columns=["member_id"]).column("member_id")[0].as_py()
    ledger.append_request(member, "erase_account", datetime.now(UTC), client_request_id="ol-1")
    report = forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert report.items_removed > 0

    events = read_events(settings.lineage_file)
    for e in events:
        validate_event(e)
    by_job = {(e["job"]["name"], e["eventType"]): e for e in events}
    built = by_job[("snapshot.build.ml_personalization", "COMPLETE")]
    assert {i["namespace"] for i in built["inputs"]} == {"file", "sqlite"}
    (out,) = built["outputs"]
    assert out["name"] == str((snap / layout.DATA).resolve())
    assert out["facets"]["version"]["datasetVersion"] == manifest.content_hash
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == rows_built
    forgot = by_job[("forget", "COMPLETE")]
    (changed,) = forgot["outputs"]
    assert changed["facets"]["version"]["datasetVersion"] == report.removals[0].content_hash_after
    assert changed["facets"]["version"]["datasetVersion"] != manifest.content_hash
    assert changed["outputFacets"]["outputStatistics"]["rowCount"] == rows_built - report.items_removed


def test_a_forget_report_carries_the_rewritten_content_hash(home: Path, network: Path, redaction_key: None) -> None:
    """The report (and so receipts and lineage events) names the hash the manifest now has."""
    from consentry.forgetting.run import forget
    from consentry.ledger.store import Ledger
    from consentry.snapshots.manifest import Manifest

    settings = Settings()
    ledger = Ledger(settings.ledger).create()
    built = build_snapshot(network, "strict", "genai_training", AS_OF, settings.snapshots, workers=1, shards=2)
    snap = settings.snapshots / "genai_training" / built.version
    member = pq.read_table(snap / layout.LINEAGE, columns=["member_id"]).column("member_id")[0].as_py()
    ledger.append_request(member, "erase_account", datetime.now(UTC), client_request_id="ol-2")
    (removal,) = forget(pending=True, settings=settings, ledger=ledger, retrain=False).removals
    assert removal.content_hash_before == built.content_hash
    assert removal.content_hash_after == Manifest.read(snap).content_hash != built.content_hash
