"""Forgetting across snapshots: physical removal, verify-erasure, forward_only untouched."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from consentry.forgetting import erase
from consentry.forgetting.run import forget
from consentry.forgetting.verify import verify_erasure
from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF


def _tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _live_texts(root: Path) -> list[str]:
    out = []
    for s in catalog.list_snapshots(root):
        for f in s.data_files():
            out += [t for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t]
    return out


def _members_in(snap: catalog.Snapshot) -> set[str]:
    return set(pq.read_table(snap.path / layout.LINEAGE).column("member_id").to_pylist())


@pytest.fixture
def world(tmp_path: Path, network: Path, redaction_key: None):
    from consentry.ledger.store import Ledger
    from consentry.settings import Settings

    settings = Settings(home=tmp_path / "home")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}").create()
    root = settings.snapshots
    fwd = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, root, workers=2)
    retro = build_snapshot(network, "strict", "ml_personalization", AS_OF, root, workers=2)
    return settings, ledger, root, fwd, retro


@pytest.mark.slow
def test_forget_erasures_and_retroactive_opt_outs(world, network: Path) -> None:
    settings, ledger, root, fwd, retro = world
    s_fwd = catalog.load(root, "genai_training", fwd.version)
    s_retro = catalog.load(root, "ml_personalization", retro.version)
    both = sorted(_members_in(s_fwd) & _members_in(s_retro))
    assert len(both) >= 3
    now = dt.datetime.now(dt.UTC)

    # 1. Opt-outs only: the retroactive snapshot loses the members, forward_only stays byte-identical.
    before_fwd = _tree(s_fwd.path)
    for m in both[:2]:
        for purpose in ("genai_training", "ml_personalization"):
            ledger.append_event(m, purpose, "opt_out", "settings", now, client_request_id=f"oo-{m}-{purpose}")
    rep = forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert _tree(s_fwd.path) == before_fwd
    assert {f.member_id for f in rep.forward_only} == set(both[:2])
    assert not set(both[:2]) & _members_in(s_retro)
    assert set(both[:2]) <= _members_in(s_fwd)
    receipt = json.loads((settings.home / "receipts" / rep.run_id / f"{both[0]}.json").read_text())
    assert any("new builds exclude you" in x["note"] for x in receipt["left_as_is"])
    assert receipt["snapshots"] and receipt["snapshots"][0]["snapshot"] == s_retro.ref

    # 2. Erasures: a whole account and one item of another member, in every snapshot.
    victim = both[2]
    lineage = pq.read_table(s_fwd.path / layout.LINEAGE).to_pylist()
    other_item = next(r["item_id"] for r in lineage if r["member_id"] not in both[:3])
    erased_items = {r["item_id"] for r in lineage if r["member_id"] == victim} | {other_item}
    ledger.append_request(victim, "erase_account", now, client_request_id="req-1", request_id="r1")
    owner = next(r["member_id"] for r in lineage if r["item_id"] == other_item)
    ledger.append_request(owner, "erase_items", now, [other_item], client_request_id="req-2", request_id="r2")
    rep2 = forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert {"r1", "r2"} <= set(rep2.requests_processed)
    assert not [r for r in ledger.pending_requests() if r.request_id in ("r1", "r2")]
    for s in catalog.list_snapshots(root):
        assert victim not in _members_in(s)
        ids = set(pq.read_table(s.path / layout.LINEAGE).column("item_id").to_pylist())
        assert not ids & erased_items
        tomb = erase.tombstones(s.path)
        assert "text" not in tomb.schema.names
    assert s_fwd.manifest.content_hash != catalog.load(root, "genai_training", fwd.version).manifest.content_hash
    hist = catalog.load(root, "genai_training", fwd.version).manifest.forget_history
    assert hist and hist[-1].items_removed >= len(erased_items & {r["item_id"] for r in lineage})

    report = verify_erasure(root, network)
    assert report.ok, report.text()
    assert report.originals_searched > 0
    originals = pq.read_table(network / "items.parquet", columns=["item_id", "text"]).to_pylist()
    others = "\n".join(r["text"] or "" for r in originals if r["item_id"] not in erased_items)
    # Generic texts ("Congratulations!") are also other members' own data: search the distinctive ones.
    erased_texts = [r["text"] for r in originals
                    if r["item_id"] in erased_items and r["text"] and r["text"] not in others]
    live = "\n".join(_live_texts(root))
    assert erased_texts and not any(t in live for t in erased_texts)

    # 3. A new build reads the ledger and excludes the erased member with a reason.
    new = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, root, workers=2, ledger=ledger)
    s_new = catalog.load(root, "genai_training", new.version)
    assert victim not in _members_in(s_new)
    excl = {r["item_id"]: r["reasons"] for r in pq.read_table(s_new.path / layout.EXCLUDED).to_pylist()}
    assert all("erased" in excl[i] for i in erased_items if i in excl)


def test_interrupted_forget_is_finished_by_recovery(world, network: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, ledger, root, fwd, _ = world
    snap = catalog.load(root, "genai_training", fwd.version)
    member = sorted(_members_in(snap))[0]

    def crash(*a, **k):
        raise RuntimeError("power cut after the shard files were rewritten")

    monkeypatch.setattr(erase, "_rewrite_lineage", crash)
    with pytest.raises(RuntimeError):
        erase.remove(snap, [erase.Target("opted_out", "e9", members={member})], "run-1")
    assert (snap.path / layout.JOURNAL).exists()
    monkeypatch.undo()
    erase.recover(snap.path)
    assert not (snap.path / layout.JOURNAL).exists()
    assert member not in _members_in(snap)
    assert member in set(erase.tombstones(snap.path).column("member_id").to_pylist())
    m = catalog.load(root, "genai_training", fwd.version).manifest
    from consentry.snapshots.kernel import content_hash, shard_hash

    hashes = {f"{i:02d}": shard_hash(pq.read_table(layout.shard_file(snap.path, i))) for i in range(m.shards)}
    assert m.shard_hashes == hashes and m.content_hash == content_hash(hashes)
    assert verify_erasure(root, network).ok
