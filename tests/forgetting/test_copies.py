"""Erasure reaches every copy, a crashed forget is never reported done, reruns repeat receipts.

Each test here reproduces a defect of issue 17 (part 3): the staged export kept
erased texts, `verify-erasure` said OK after a crash right after the journal, a torn
snapshot stayed listed and readable, a rerun issued contradicting receipts, and
`verify-erasure --root /nonexistent` said OK.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from consentry.cli import app
from consentry.forgetting import erase
from consentry.forgetting.run import forget
from consentry.forgetting.verify import verify_erasure
from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


class Crash(RuntimeError):
    """Stands for a kill: the run stops where it is (the subprocess tests SIGKILL for real)."""


@pytest.fixture
def world(home: Path, network: Path, redaction_key: None, monkeypatch: pytest.MonkeyPatch):
    """A home with a ledger, one snapshot and a staged export (as `decide` leaves it)."""
    from consentry.ledger.store import Ledger
    from consentry.network import reader
    from consentry.settings import Settings

    monkeypatch.setenv("CONSENTRY_NETWORK_DIR", str(network))
    settings = Settings()
    ledger = Ledger(settings.ledger).create()
    build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, settings.snapshots, workers=1, shards=4)
    reader.stage_cached(network, home / "staged", progress=False)
    snap = catalog.load(settings.snapshots, "genai_training")
    lineage = pq.read_table(snap.path / layout.LINEAGE).to_pylist()
    counts: dict[str, int] = {}
    for r in lineage:
        counts[r["member_id"]] = counts.get(r["member_id"], 0) + 1
    # members with several items, so that each request touches several shards' rows
    members = sorted(counts, key=lambda m: (-counts[m], m))[:3]
    return settings, ledger, snap, members


def _erase(ledger, members: list[str]) -> None:
    for i, m in enumerate(members):
        ledger.append_request(m, "erase_account", NOW, client_request_id=f"crid-{m}", request_id=f"r{i}")


def _rows(snap: catalog.Snapshot) -> tuple[int, int]:
    data = sum(pq.ParquetFile(f).metadata.num_rows for f in snap.data_files())
    return data, pq.ParquetFile(snap.path / layout.LINEAGE).metadata.num_rows


def _verify(settings, ledger, network: Path):
    return verify_erasure(settings.snapshots, network, ledger=ledger, home=settings.home,
                          models_dir=settings.models)


def _receipts(home: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in (home / "receipts").glob("*/*.json"):
        out.setdefault(p.stem, []).append(json.loads(p.read_text()))
    for receipts in out.values():  # oldest first: two runs in one second share a run-id prefix
        receipts.sort(key=lambda r: r.get("at", ""))
    return out


def test_staged_export_loses_erased_texts(world, network: Path) -> None:
    settings, ledger, _snap, members = world
    _erase(ledger, members[:1])
    staged = next((settings.home / "staged").glob("*/items.parquet"))

    def erased_texts() -> list[str]:
        t = pq.read_table(staged, columns=["member_id", "text"]).to_pylist()
        return [r["text"] for r in t if r["member_id"] == members[0] and r["text"]]

    assert erased_texts()
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert erased_texts() == []
    n_items = pq.read_table(staged, columns=["item_id"]).num_rows
    assert n_items == pq.read_table(network / "items.parquet", columns=["item_id"]).num_rows  # rows stay
    v = CliRunner().invoke(app, ["snapshot", "verify-erasure", "--network", str(network)])
    assert v.exit_code == 0 and v.output.startswith("OK"), v.output

    # Staging the unchanged export again (as `decide` does for a new cache) brings the texts
    # back: verify-erasure names the file, and the next forget run scrubs it.
    from consentry.network import reader

    again = reader.stage_export(network, settings.home / "staged" / "restaged", progress=False)
    v = CliRunner().invoke(app, ["snapshot", "verify-erasure", "--network", str(network)])
    assert v.exit_code == 1 and "staged" in v.output
    assert str(again.dest / "items.parquet") in v.output.replace("\n", "")
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert _verify(settings, ledger, network).ok


def test_crash_right_after_the_journal_is_not_reported_done(world, network: Path, monkeypatch) -> None:
    settings, ledger, snap, members = world
    _erase(ledger, members)

    def crash(*a, **k):
        raise Crash("killed right after the journal appeared")

    with monkeypatch.context() as mp, pytest.raises(Crash):
        mp.setattr(erase, "_apply", crash)
        forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    v = CliRunner().invoke(app, ["snapshot", "verify-erasure", "--network", str(network)])
    assert v.exit_code == 1 and not v.output.startswith("OK")
    report = _verify(settings, ledger, network)
    assert not report.ok
    assert report.unfinished and any(f.check == "member" for f in report.findings), report.text()

    forget(resume=True, settings=settings, ledger=ledger, retrain=False)
    report = _verify(settings, ledger, network)
    assert report.ok, report.text()
    assert not ledger.pending_requests()
    assert _rows(catalog.load(settings.snapshots, "genai_training")) [0] == _rows(snap)[1]


def test_torn_snapshot_is_marked_and_refused_until_the_forget_completes(world, network: Path, monkeypatch) -> None:
    settings, ledger, snap, members = world
    _erase(ledger, members)

    def crash(*a, **k):
        raise Crash("killed after the shard files, before the lineage")

    with monkeypatch.context() as mp, pytest.raises(Crash):
        mp.setattr(erase, "_rewrite_lineage", crash)
        forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    data, lineage = _rows(snap)
    assert data < lineage  # torn: exactly what a kill leaves

    listed = CliRunner().invoke(app, ["snapshot", "list", "--json"])
    assert json.loads(listed.output)[0]["unfinished_forget"]
    shown = CliRunner().invoke(app, ["snapshot", "show", snap.ref])
    assert "FORGET UNFINISHED" in shown.output and "--resume" in shown.output
    with pytest.raises(layout.UnfinishedForget, match=r"genai_training/v0001.*consentry forget --resume"):
        catalog.load(settings.snapshots, "genai_training").require_whole()

    d = CliRunner().invoke(app, ["snapshot", "diff", snap.ref, snap.ref])
    assert d.exit_code == 2 and "forget --resume" in d.output and "Traceback" not in d.output

    from consentry.center.sources import Sources

    from consentry.center import timeline

    lineage = Sources(settings, ledger).lineage(members[0])
    entry = lineage[0]
    assert entry["unfinished_forget"] and entry["included"] == []
    told = [e["text"] for e in timeline.build([], [], lineage, [], [])]
    assert told == [f"Snapshot {snap.ref} is being updated by an erasure run; its details show once it completes."]

    r = CliRunner().invoke(app, ["forget", "--pending", "--no-retrain"])
    assert r.exit_code == 0, r.output
    snap = catalog.load(settings.snapshots, "genai_training")
    assert snap.unfinished_forget is None
    snap.require_whole()
    data, lineage = _rows(snap)
    assert data == lineage == snap.manifest.counts["included"]
    assert _verify(settings, ledger, network).ok


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rerun_after_crash_while_marking_repeats_the_first_receipts(world, network: Path, monkeypatch, backend,
                                                                    request) -> None:
    settings, ledger, snap, members = world
    if backend == "postgresql":
        from consentry.ledger.store import Ledger

        ledger = Ledger(request.getfixturevalue("pg_url")).create()
    _erase(ledger, members)
    real = type(ledger).mark_processed
    calls = []

    def flaky(self, *a, **k):
        calls.append(a[0])
        if len(calls) == 2:
            raise Crash("killed while marking requests")
        return real(self, *a, **k)

    with monkeypatch.context() as mp, pytest.raises(Crash):
        mp.setattr(type(ledger), "mark_processed", flaky)
        forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    first = _receipts(settings.home)
    assert set(first) == set(members) and all(r[0]["snapshots"] for r in first.values())

    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    forget(request_id="r0", settings=settings, ledger=ledger, retrain=False)  # asked again: same answer
    assert not ledger.pending_requests()
    for member, receipts in _receipts(settings.home).items():
        for r in receipts:
            assert r["snapshots"] == first[member][0]["snapshots"], member
            assert "no live snapshot held your data" not in r["note"]
    for i, m in enumerate(members):
        assert ledger.request(f"r{i}").result["snapshots"] == [snap.ref]
    assert _verify(settings, ledger, network).ok


def test_verify_erasure_with_a_nonexistent_root_is_an_error(home: Path) -> None:
    r = CliRunner().invoke(app, ["snapshot", "verify-erasure", "--root", "/nonexistent"])
    assert r.exit_code == 2
    assert "OK" not in r.output and "Traceback" not in r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "/nonexistent" in lines[0]
    with pytest.raises(FileNotFoundError):
        verify_erasure("/nonexistent")


def test_logs_exports_and_model_lineage_are_checked(world, network: Path) -> None:
    """Whatever else the home keeps: a log line, an export bundle, a live model's lineage."""
    import zipfile

    settings, ledger, snap, members = world
    _erase(ledger, members[:1])
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert _verify(settings, ledger, network).ok
    items = pq.read_table(network / "items.parquet").to_pylist()
    text = max((r for r in items if r["member_id"] == members[0] and r["text"]), key=lambda r: len(r["text"]))["text"]

    log = settings.home / "logs" / "center.log"
    log.parent.mkdir()
    log.write_text(f"2026-01-01 INFO started\n2026-01-01 INFO drafted: {text}\n2026-01-01 INFO done\n")
    assert any(f.file == str(log) for f in _verify(settings, ledger, network).findings)
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)  # the line goes, the others stay
    assert log.read_text() == "2026-01-01 INFO started\n2026-01-01 INFO done\n"
    assert _verify(settings, ledger, network).ok
    bundle = settings.home / "exports" / "bundle.zip"
    bundle.parent.mkdir()
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("items.jsonl", json.dumps({"text": text}) + "\n")
    assert any(f.file.startswith(str(bundle)) for f in _verify(settings, ledger, network).findings)
    bundle.unlink()
    mine = settings.home / "exports" / members[0] / "x1.json"  # the center's bundle of the member
    mine.parent.mkdir()
    mine.write_text(json.dumps({"member_id": members[0]}))
    assert [f.check for f in _verify(settings, ledger, network).findings] == ["export"]
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert not mine.parent.exists() and _verify(settings, ledger, network).ok

    # The registry's lineage: a live model trained on the member is unfinished erasure;
    # a superseded one may stay as lineage only once its checkpoints are deleted.
    ckpt = settings.models / "checkpoints" / "assistant" / "c-old"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    version = {"name": "assistant", "kind": "assistant", "version": "assistant-0001", "status": "live",
               "snapshot": {"purpose": "genai_training", "version": snap.version},
               "shards": [{"shard": 0, "members": [members[0]], "items": [], "slices": [{"checkpoint": "c-old"}]}]}
    (settings.models / "registry.json").write_text(json.dumps({"versions": [version]}))
    assert [f.check for f in _verify(settings, ledger, network).findings] == ["model"]
    version["status"] = "superseded"
    (settings.models / "registry.json").write_text(json.dumps({"versions": [version]}))
    assert [f.check for f in _verify(settings, ledger, network).findings] == ["checkpoint"]
    ckpt.unlink()
    assert _verify(settings, ledger, network).ok


def test_a_snapshot_built_after_the_erasure_without_the_ledger_is_caught_and_cleaned(world, network: Path) -> None:
    settings, ledger, _snap, members = world
    _erase(ledger, members[:1])
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    receipt = _receipts(settings.home)[members[0]][0]
    again = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, settings.snapshots, workers=1, shards=4)
    report = _verify(settings, ledger, network)
    assert not report.ok and {f.check for f in report.findings} >= {"member"}, report.text()

    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert _verify(settings, ledger, network).ok
    new = _receipts(settings.home)[members[0]]
    assert receipt["snapshots"][0] in new[-1]["snapshots"]  # the first finding still stands
    assert f"genai_training/{again.version}" in {s["snapshot"] for s in new[-1]["snapshots"]}


def test_a_damaged_run_journal_stops_forget_with_one_line(world, network: Path) -> None:
    settings, ledger, _snap, _members = world
    bad = settings.snapshots / layout.FORGET_DIR / "20260101T000000Z-deadbeef.json"
    bad.parent.mkdir()
    bad.write_text('{"run_id": "20260101T0')  # cut short by a disk fault, not by our atomic writes
    r = CliRunner().invoke(app, ["forget", "--pending", "--no-retrain"])
    assert r.exit_code == 2 and str(bad) in r.output and "Traceback" not in r.output
    assert bad.exists()  # never guessed away
    assert not _verify(settings, ledger, network).ok
    assert catalog.load(settings.snapshots, "genai_training").unfinished_forget


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_staged_members_lose_an_erased_accounts_personal_fields(world, network: Path, backend, request) -> None:
    """The staged export kept an erased account's display name, handle and birth date in
    members.parquet (only item texts were blanked), and verify-erasure did not look."""
    from consentry.forgetting import copies

    settings, ledger, _snap, members = world
    if backend == "postgresql":
        from consentry.ledger.store import Ledger

        ledger = Ledger(request.getfixturevalue("pg_url")).create()
    staged = next((settings.home / "staged").glob("*/members.parquet"))
    before = {r["member_id"]: r for r in pq.read_table(staged).to_pylist()}
    gone, kept = members[0], members[1]
    assert before[gone]["display_name"] and before[gone]["handle"]
    _erase(ledger, [gone])

    report = _verify(settings, ledger, network)  # a forget not yet run: the staged row is named
    assert any(f.file == str(staged) and gone in f.detail for f in report.findings), report.text()

    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    after = {r["member_id"]: r for r in pq.read_table(staged).to_pylist()}
    assert set(after) == set(before)  # the row and its id stay: decide still excludes the items as erased
    assert all(after[gone][f] is None for f in copies.MEMBER_PERSONAL)
    assert after[gone]["residence_country"] == before[gone]["residence_country"]
    assert after[kept] == before[kept]  # other members untouched
    assert _verify(settings, ledger, network).ok

    # a new staging of the unchanged export brings the name back: verify-erasure names it
    from consentry.network import reader

    again = reader.stage_export(network, settings.home / "staged" / "restaged", progress=False)
    report = _verify(settings, ledger, network)
    assert any(f.file == str(again.dest / "members.parquet") for f in report.findings), report.text()


@pytest.mark.parametrize("layout_", ["items/ parts", "items.jsonl", "both"])
def test_verify_reads_original_texts_however_the_export_holds_items(tmp_path: Path, layout_: str) -> None:
    """verify-erasure accepts an export whose items are in items/ (as staging does), but read
    no originals from it, so the sweep for erased texts could find nothing."""
    import pyarrow as pa

    from consentry.forgetting.verify import original_texts

    net = tmp_path / "net"
    (net / "items").mkdir(parents=True)
    rows = [{"item_id": "i1", "member_id": "m1", "text": "Winifred's secret recipe"},
            {"item_id": "i2", "member_id": "m2", "text": "Casimir's garden notes"}]
    if layout_ in ("items/ parts", "both"):
        pq.write_table(pa.Table.from_pylist(rows[:1]), net / "items" / "part-0.parquet")
    if layout_ == "items/ parts":
        pq.write_table(pa.Table.from_pylist(rows[1:]), net / "items" / "part-1.parquet")
    else:
        (net / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (rows if layout_ == "items.jsonl"
                                                                                 else rows[1:])))
    assert original_texts(net, ["i1"], {"m2"}) == {"i1": rows[0]["text"], "i2": rows[1]["text"]}
