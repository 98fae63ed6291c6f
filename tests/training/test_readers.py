"""Training reads only whole snapshots, and says what it trained on in OpenLineage terms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consentry.settings import Settings
from consentry.snapshots import layout
from consentry.training.pipeline import train_version
from tests.openlineage_spec import read_events, validate_event


def test_training_refuses_a_snapshot_with_an_unfinished_forget(snapshot: Path, tmp_path: Path, tiny: dict) -> None:
    (snapshot / layout.JOURNAL).write_text(json.dumps({"run_id": "r1"}))  # a forget killed mid-rewrite
    with pytest.raises(layout.UnfinishedForget, match="forget --resume"):
        train_version("assistant", snapshot, tmp_path / "models", config=tiny, n_slices=1, progress=False,
                      evaluate=False)
    assert not (tmp_path / "models" / "registry.json").exists()


def test_training_emits_a_run_from_the_snapshot_to_the_version(snapshot: Path, tmp_path: Path, home: Path,
                                                                tiny: dict) -> None:
    v = train_version("assistant", snapshot, tmp_path / "models", config=tiny, n_slices=1, progress=False,
                      evaluate=False)
    events = read_events(Settings().lineage_file)
    for e in events:
        validate_event(e)
    done = next(e for e in events if e["job"]["name"] == "train.assistant" and e["eventType"] == "COMPLETE")
    (src,) = done["inputs"]
    assert src["name"] == str((snapshot / "data").resolve())
    assert done["outputs"][0]["facets"]["version"]["datasetVersion"] == v["version"]
    assert v["provenance"]["consentry"]
