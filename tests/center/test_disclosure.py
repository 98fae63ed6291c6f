"""The public training-content summary: the Commission's template, true statements, one count.

The snapshot is built from the tiny center export; the model is registered by hand
(the registry is the contract, not the trainer), holding one snapshot item out as a
trainer does for evaluation, with a base entry the summary must name as recorded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from consentry.redact.detect import DETECTORS
from consentry.training.registry import Registry

from .test_admin import admin_login

BASE = {"model": "Tiny-Public-Base-7M", "pretraining_data": "Example Public Corpus v3 (web text)",
        "licence": "Apache-2.0", "sha256": "ab" * 32, "contains_member_data": False}


@pytest.fixture
def trained(app):
    """A genai_training snapshot and a model version trained on all of it but one held-out item."""
    from consentry.snapshots.build import build_snapshot

    settings = app.state.settings
    man = build_snapshot(settings.network, "linkedin-2024", "genai_training", datetime.now(UTC),
                         settings.snapshots, workers=1, ledger=app.state.sources.ledger)
    snap = app.state.sources.snapshots()[-1]
    import duckdb

    rows = duckdb.sql(f"SELECT item_id, member_id FROM read_parquet('{snap.path}/data/*/*.parquet') "
                      "ORDER BY item_id").fetchall()
    assert len(rows) >= 3
    kept = rows[1:]  # the first item is held out for evaluation, as the assistant's trainer does
    shards = [{"shard": 0, "items": [i for i, _ in kept], "item_members": [m for _, m in kept],
               "members": sorted({m for _, m in kept}), "content_hashes": [], "slices": [], "data_hash": "x"}]
    entry = Registry(settings.models).register({
        "name": "assistant", "kind": "assistant", "config": {}, "base": BASE, "shards": shards,
        "snapshot": {"purpose": "genai_training", "version": man.version, "path": str(snap.path),
                     "content_hash": man.content_hash},
        "metrics": {"holdout_texts": 1}, "timings": {}})
    return {"model": entry, "snapshot_rows": len(rows), "trained": len(kept), "members": len({m for _, m in kept})}


def test_summary_is_public_in_the_commission_template(client, trained):
    v = trained["model"]["version"]
    md = client.get(f"/models/assistant/{v}/summary.md")  # nobody signed in
    js = client.get(f"/models/assistant/{v}/summary.json")
    assert md.status_code == 200 and js.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    headings = re.findall(r"^#{2,3} (.+)$", md.text, flags=re.MULTILINE)
    assert headings == [
        "1. General information", "1.1 Provider identification", "1.2 Model identification",
        "1.3 Modalities, overall training data size and other characteristics",
        "2. List of data sources", "2.1 Publicly available datasets",
        "2.2 Private non-publicly available datasets obtained from third parties",
        "2.3 Data crawled and scraped from online sources", "2.4 User data", "2.5 Synthetic data",
        "2.6 Other sources of data", "3. Data processing aspects",
        "3.1 Respect of reservation of rights from the text and data mining exception or limitation",
        "3.2 Removal of illegal content", "3.3 Other information"]
    s = js.json()
    assert set(s) >= {"general_information", "data_sources", "data_processing"}
    assert set(s["data_sources"]) == {"publicly_available_datasets", "private_third_party_datasets",
                                      "crawled_and_scraped_data", "user_data", "synthetic_data", "other_sources"}
    # the base model and its public pretraining source, as the registry records them
    assert BASE["model"] in md.text and BASE["pretraining_data"] in md.text and "Apache-2.0" in md.text
    assert s["data_sources"]["publicly_available_datasets"]["used"] is True
    assert s["general_information"]["model"]["dependencies"]["base_model"] == BASE["model"]
    assert "no web-scraped or licensed third-party data" not in md.text
    html = client.get(f"/models/assistant/{v}/summary")
    assert html.status_code == 200 and "2.4 User data" in html.text and f"/models/assistant/{v}/summary.json" in html.text


def test_summary_lists_only_types_with_a_detector(client, trained):
    s = client.get(f"/models/assistant/{trained['model']['version']}/summary.json").json()
    types = s["data_processing"]["other"]["redaction"]["pii_types"]
    assert types and "LOCATION" not in types
    assert set(types) <= {str(t) for t in DETECTORS}


def test_summary_counts_equal_the_admin_page(client, trained):
    v = trained["model"]["version"]
    s = client.get(f"/models/assistant/{v}/summary.json").json()
    size = s["general_information"]["training_data_size"]
    admin_login(client)
    page = client.get("/admin/snapshots").text
    row = re.search(rf"<tr><td>{v}</td>.*?</tr>", page, flags=re.DOTALL).group(0)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    admin_members, admin_items = int(cells[4]), int(cells[5])
    assert (size["items"], size["members"]) == (admin_items, admin_members) == (trained["trained"], trained["members"])
    assert trained["snapshot_rows"] == trained["trained"] + 1  # the snapshot's rows are not the trained items
    public = client.get("/models").text
    assert f">{trained['trained']}</td>" in public and f"/models/assistant/{v}/summary.json" in public


def test_summary_of_unknown_version_is_404(client):
    assert client.get("/models/assistant/assistant-0009/summary.json").status_code == 404
    assert client.get("/models/assistant/..%2Fx/summary.md").status_code == 404


@pytest.mark.parametrize("name", ["linkedin-2024", "strict"])
def test_shipped_packs_promise_only_detected_types(name):
    from consentry.policy.packs import load_pack

    for v in load_pack(name).versions:
        assert set(v.redaction.pii_types) <= set(DETECTORS), v.version


def test_pack_claiming_a_type_without_detector_is_refused():
    from importlib import resources

    from consentry.policy.packs import PackError, parse_pack

    text = resources.files("consentry.policy").joinpath("packs/strict.yaml").read_text()
    bad = text.replace("STREET_ADDRESS, HANDLE]", "STREET_ADDRESS, LOCATION, HANDLE]")
    assert bad != text
    with pytest.raises(PackError, match=r"strict.yaml:\d+: versions.0.redaction.pii_types: .*no detector for LOCATION"):
        parse_pack(bad, "strict.yaml")


def test_summary_says_what_the_registry_does_not_record(client, app, trained):
    v = trained["model"]["version"]
    reg = Registry(app.state.settings.models)
    reg.update(v, base={"model": "Tiny-Public-Base-7M"})  # no pretraining source recorded
    md = client.get(f"/models/assistant/{v}/summary.md").text
    assert "its pretraining data: not named in the model registry" in md
    reg.update(v, base=None)
    s = client.get(f"/models/assistant/{v}/summary.json").json()
    pub = s["data_sources"]["publicly_available_datasets"]
    assert pub["used"] is False and pub["description"].startswith("None: no pretrained base model is recorded")
    assert s["general_information"]["model"]["dependencies"] is None


@pytest.mark.parametrize("unfinished", ["torn", "pending"])
def test_summary_refuses_a_snapshot_with_an_unfinished_forget(client, trained, unfinished):
    """The summary reads the snapshot's data files: while a forget is unfinished on it they may
    still hold erased items, so every form of the summary refuses with one line naming the fix."""
    import json

    from consentry.snapshots import layout

    snap = __import__("pathlib").Path(trained["model"]["snapshot"]["path"])
    ref = f"{snap.parent.name}/{snap.name}"
    if unfinished == "torn":
        (snap / layout.JOURNAL).write_text(json.dumps({"run_id": "r-killed"}))
    else:
        runs = snap.parent.parent / layout.FORGET_DIR
        runs.mkdir(exist_ok=True)
        (runs / "r-killed.json").write_text(json.dumps({"run_id": "r-killed", "phase": "snapshots",
                                                        "snapshots": [ref]}))
    v = trained["model"]["version"]
    for suffix in (".json", ".md", ""):
        r = client.get(f"/models/assistant/{v}/summary{suffix}")
        assert r.status_code == 409, (suffix, r.status_code)
        assert ref in r.text and "consentry forget --resume" in r.text
    detail = client.get(f"/models/assistant/{v}/summary.json").json()["detail"]
    assert "\n" not in detail and "r-killed" in detail
