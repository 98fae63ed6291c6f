"""The synthetic network: deterministic, schema-true, and its ground truth is true."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import iporigin
import iptocc
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import stdnum.iban
import stdnum.luhn

from consentry import vocab
from consentry.network import ipdata, schema, synth
from consentry.network.reader import read_export

MEMBERS = 400  # as in conftest.small_export
SEED = 11


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path, small_export: Path) -> None:
    again = tmp_path / "again"
    synth.generate(again, members=MEMBERS, seed=SEED, progress=False, chunk_members=150)
    assert _digest(again) == _digest(small_export)
    other = tmp_path / "other"
    synth.generate(other, members=MEMBERS, seed=SEED + 1, progress=False, chunk_members=150)
    assert _digest(other)["items.parquet"] != _digest(small_export)["items.parquet"]


def test_every_table_matches_its_schema(small_export: Path) -> None:
    for name, sch in schema.EXPORT_TABLES.items():
        table = pq.read_table(small_export / f"{name}.parquet")
        assert table.schema.equals(sch), name
        assert table.num_rows > 0, name
    export = read_export(small_export)
    assert export.quarantine.num_rows == 0
    assert export.tables["members"].num_rows == MEMBERS


def test_population_is_varied(small_export: Path) -> None:
    m = pq.read_table(small_export / "members.parquet").to_pylist()
    countries = Counter(r["residence_country"] for r in m)
    assert {"US", "IN", "GB"} <= set(countries)
    assert any(c in ipdata.EEA for c in countries)
    non_members = [r for r in m if not r["is_member"]]
    assert 0 < len(non_members) < 0.08 * len(m)
    ref = synth.AGE_REFERENCE
    ages = [(ref - (r["birth_date"] - date(1970, 1, 1)).days) / 365.25 for r in m if r["birth_date"]]
    assert any(13 <= a < 18 for a in ages) and any(a >= 18 for a in ages)
    assert sum(r["birth_date"] is None for r in m if r["is_member"]) > 0
    assert all(r["handle"].startswith("@") for r in m)


def test_every_content_kind_and_visibility_appears(small_export: Path) -> None:
    items = pq.read_table(small_export / "items.parquet")
    assert set(items["kind"].to_pylist()) == set(vocab.CONTENT_KINDS)
    assert set(items["visibility"].to_pylist()) == {v.value for v in vocab.Visibility}
    assert pc.sum(items["group_sensitive"]).as_py() > 0
    assert items["deleted_at"].null_count < items.num_rows
    created = items["created_at"].to_numpy()
    assert created.min() >= np.datetime64("2019-01-01")
    messages = items.filter(pc.equal(items["kind"], "message"))
    assert set(messages["visibility"].to_pylist()) == {"private"}


def test_truth_spans_point_at_the_recorded_values(small_export: Path) -> None:
    items = pq.read_table(small_export / "items.parquet", columns=["item_id", "text", "mentions"])
    text = dict(zip(items["item_id"].to_pylist(), items["text"].to_pylist()))
    mentions = dict(zip(items["item_id"].to_pylist(), items["mentions"].to_pylist()))
    spans = pq.read_table(small_export / "truth" / "pii_spans.parquet").to_pylist()
    assert {s["type"] for s in spans} >= {"EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "NATIONAL_ID",
                                          "STREET_ADDRESS", "URL", "IP_ADDRESS", "PERSON", "HANDLE"}
    assert {s["type"] for s in spans} <= {t.value for t in vocab.PiiType}
    for s in spans:
        assert text[s["item_id"]][s["start"]:s["end"]] == s["value"], s
        if s["type"] == "CREDIT_CARD":
            assert stdnum.luhn.is_valid(s["value"].replace(" ", ""))
        if s["type"] == "IBAN":
            assert stdnum.iban.is_valid(s["value"])
    # a mention's member id is in the item's mentions, and its name or handle in the text
    members = pq.read_table(small_export / "members.parquet").to_pylist()
    by_id = {r["member_id"]: r for r in members}
    mentioned = [s for s in spans if s["type"] in ("PERSON", "HANDLE") and s["member_id"]]
    assert mentioned
    for s in mentioned:
        assert s["member_id"] in mentions[s["item_id"]]
        who = by_id[s["member_id"]]
        assert s["value"] == (who["display_name"] if s["type"] == "PERSON" else who["handle"])
    assert any(not by_id[s["member_id"]]["is_member"] for s in mentioned)


def test_canaries_are_in_their_posts_and_references_nowhere(tmp_path: Path) -> None:
    out = tmp_path / "c"
    synth.generate(out, members=1500, seed=3, progress=False)
    items = pq.read_table(out / "items.parquet", columns=["item_id", "member_id", "text", "visibility"])
    rows = {r["item_id"]: r for r in items.to_pylist()}
    canaries = pq.read_table(out / "truth" / "canaries.parquet").to_pylist()
    refs = pq.read_table(out / "truth" / "canaries_reference.parquet")["canary"].to_pylist()
    assert 5 <= len(canaries) <= 40 and len(refs) == len(canaries)
    for c in canaries:
        row = rows[c["item_id"]]
        assert c["canary"] in row["text"] and row["member_id"] == c["member_id"]
        assert row["visibility"] == "public"
    secrets = [c["canary"] for c in canaries]
    assert len(set(secrets + refs)) == 2 * len(secrets)
    everything = "\n".join(r["text"] for r in rows.values())
    assert not any(r in everything for r in refs)


def test_ips_resolve_to_the_intended_country(small_export: Path) -> None:
    table = ipdata.load_table()
    rng = np.random.default_rng(0)
    for cc, prefixes in table["countries"].items():
        ips = [f"{p}.{rng.integers(1, 255)}" for p in prefixes]
        assert set(iptocc.country_code(ips)) == {cc}, cc
    dc = [f"{p}.{rng.integers(1, 255)}" for p, _, _ in table["datacenter"]]
    assert all(iporigin.is_datacenter(ip) for ip in dc)
    # most sign-ins of a member with a known residence geolocate to it; some do not (travel, VPN)
    members = pq.read_table(small_export / "members.parquet").to_pylist()
    home = {r["member_id"]: r["residence_country"] for r in members}
    s = pq.read_table(small_export / "signins.parquet").to_pylist()
    got = iptocc.country_code([r["ip"] for r in s])
    known = [(home[r["member_id"]], g, r["ip"]) for r, g in zip(s, got) if home[r["member_id"]]]
    same = sum(h == g for h, g, _ in known)
    assert 0.8 * len(known) < same < len(known)
    assert any(iporigin.is_datacenter(ip) for _, _, ip in known)
    assert any(h == "US" and g in ipdata.EEA for h, g, _ in known)


def test_consent_histories_cover_every_purpose(small_export: Path) -> None:
    ev = pq.read_table(small_export / "consent_events.parquet").to_pylist()
    assert {e["purpose"] for e in ev} == set(vocab.PURPOSES)
    assert {e["choice"] for e in ev} == {c.value for c in vocab.Choice}
    assert any(e["source"] == "gpc" and e["purpose"] == "affiliate_sharing" for e in ev)
    cut = datetime(2024, 9, 18, tzinfo=UTC)
    genai_out = [e["at"] for e in ev if e["purpose"] == "genai_training" and e["choice"] == "opt_out"]
    assert min(genai_out) < cut < max(genai_out)
    notices = pq.read_table(small_export / "notices.parquet")
    assert {"2024-09", "2025-11"} <= set(notices["notice_version"].to_pylist())
    req = pq.read_table(small_export / "requests.parquet").to_pylist()
    assert {r["kind"] for r in req} <= {k.value for k in vocab.RequestKind}
    items = set(pq.read_table(small_export / "items.parquet", columns=["item_id"])["item_id"].to_pylist())
    for r in req:
        if r["kind"] == "erase_items":
            assert r["item_ids"] and set(r["item_ids"]) <= items


def test_job_interactions_follow_the_members_occupation(small_export: Path) -> None:
    jobs = {r["job_id"]: r["title"] for r in pq.read_table(small_export / "jobs.parquet").to_pylist()}
    profiles = pq.read_table(small_export / "items.parquet", columns=["member_id", "kind", "text"]).to_pylist()
    profile = {r["member_id"]: r["text"].lower() for r in profiles if r["kind"] == "profile"}
    inter = pq.read_table(small_export / "job_interactions.parquet").to_pylist()
    assert {r["action"] for r in inter} == {"view", "save", "apply"}
    hits = sum(jobs[r["job_id"]].lower() in profile.get(r["member_id"], "") for r in inter)
    assert hits > 0.5 * len(inter)


def test_jsonl_format_reads_back_like_parquet(tmp_path: Path) -> None:
    a, b = tmp_path / "p", tmp_path / "j"
    synth.generate(a, members=60, seed=4, progress=False)
    synth.generate(b, members=60, seed=4, progress=False, fmt="jsonl")
    assert (b / "items.jsonl").is_file() and not (b / "items.parquet").exists()
    ea, eb = read_export(a), read_export(b)
    assert eb.quarantine.num_rows == 0
    for name in schema.EXPORT_TABLES:
        assert ea.tables[name].equals(eb.tables[name]), name


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        synth.generate(tmp_path, members=0, progress=False)
    with pytest.raises(ValueError):
        synth.generate(tmp_path, members=5, fmt="csv", progress=False)


def test_regenerating_in_another_format_leaves_one_copy(tmp_path: Path) -> None:
    out = tmp_path / "net"
    synth.generate(out, members=20, seed=1, progress=False, fmt="jsonl")
    synth.generate(out, members=20, seed=1, progress=False)
    assert not list(out.glob("*.jsonl"))
    assert read_export(out).quarantine.num_rows == 0
