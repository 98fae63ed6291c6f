"""OpenLineage run events: valid against the specification, emitted on success and failure."""

from __future__ import annotations

import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import ValidationError

from consentry import openlineage_events as ol
from consentry.settings import Settings
from tests.openlineage_spec import read_events, validate_event


def _parquet(tmp_path: Path) -> Path:
    p = tmp_path / "out.parquet"
    pq.write_table(pa.table({"item_id": ["i1", "i2", "i3"], "shard": pa.array([0, 1, 1], pa.int16())}), p)
    return p


def test_a_run_emits_start_and_complete_with_its_outputs(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    out = _parquet(tmp_path)
    with ol.run("snapshot.build", [ol.DatasetRef.ledger(f"sqlite:///{tmp_path}/l.sqlite")], settings) as r:
        r.output(ol.DatasetRef.parquet(out, version="sha256:abc"))
    start, complete = read_events(settings.lineage_file)
    for e in (start, complete):
        validate_event(e)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    (ds,) = complete["outputs"]
    assert ds["name"] == str(out.resolve())
    assert ds["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert ds["facets"]["version"]["datasetVersion"] == "sha256:abc"
    assert [f["name"] for f in ds["facets"]["schema"]["fields"]] == ["item_id", "shard"]


def test_a_failed_run_emits_fail_with_the_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ValueError), ol.run("forget", [], settings):
        raise ValueError("ledger unreachable")
    start, fail = read_events(settings.lineage_file)
    validate_event(fail)
    assert fail["eventType"] == "FAIL"
    assert fail["run"]["facets"]["errorMessage"]["message"] == "ledger unreachable"


def test_the_validator_rejects_a_broken_event(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with ol.run("decide", [], settings):
        pass
    event = read_events(settings.lineage_file)[0]
    del event["eventTime"]
    with pytest.raises(ValidationError):
        validate_event(event)


def test_credentials_never_enter_a_dataset_name() -> None:
    ref = ol.DatasetRef.ledger("postgresql+psycopg://alice:s3cret@db.example:5432/ledger")
    assert "s3cret" not in ref.namespace + ref.name and "alice" not in ref.namespace + ref.name


def test_an_unreachable_lineage_endpoint_never_fails_the_job(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(home=tmp_path, openlineage_url=f"http://127.0.0.1:{port}")
    with ol.run("decide", [], settings) as r:
        r.output(ol.DatasetRef.path(tmp_path))
    assert not settings.lineage_file.exists()


def test_off_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, openlineage="off")
    with ol.run("decide", [], settings):
        pass
    assert not settings.lineage_file.exists()


def test_decide_reports_its_decisions_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from consentry.cli import app
    from consentry.network import synth

    monkeypatch.setenv("CONSENTRY_HOME", str(tmp_path / "home"))
    synth.generate(tmp_path / "net", members=60, seed=3, progress=False)
    out = tmp_path / "decisions.parquet"
    r = CliRunner().invoke(app, ["decide", "--network", str(tmp_path / "net"), "--pack", "strict", "--purpose",
                                 "genai_training", "--as-of", "2025-12-01", "--out", str(out), "-q", "--no-ledger"])
    assert r.exit_code == 0, r.output
    events = read_events(Settings().lineage_file)
    for e in events:
        validate_event(e)
    done = next(e for e in events if e["job"]["name"] == "decide.genai_training" and e["eventType"] == "COMPLETE")
    assert [i["name"] for i in done["inputs"]] == [str((tmp_path / "net").resolve())]
    (written,) = done["outputs"]
    assert written["name"] == str(out.resolve())
    assert written["outputFacets"]["outputStatistics"]["rowCount"] == pq.ParquetFile(out).metadata.num_rows > 0
