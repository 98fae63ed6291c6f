"""A forget run killed (SIGKILL) at any of its steps is never reported done, and a rerun finishes it.

The build's kill test is tests/snapshots/test_kill.py; this one kills `forget` at
every named step (`consentry.forgetting.steps`), then checks what a user relies on:
`verify-erasure` says UNFINISHED until the rerun, and after it says OK, every
snapshot's data rows equal its lineage rows, the result equals an uninterrupted
run's, and every receipt agrees with the first one the member got.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from consentry.forgetting.steps import KILL_ENV, STEPS
from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF

pytestmark = pytest.mark.slow

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
CHILD = """
from consentry.forgetting.run import forget
forget(pending=True, retrain=False)
"""
# Every step, and the second time for those a run reaches more than once.
POINTS = [*STEPS, "snapshot_journal:2", "shard_rewritten:3", "request_marked:2"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, network: Path, redaction_key: None) -> Path:
    """A home with two snapshots (forward_only and retroactive), a staged export, an export
    bundle, and a ledger holding two erasure requests and one retroactive opt-out."""
    from consentry.ledger.store import Ledger
    from consentry.network import reader
    from consentry.settings import Settings

    home = tmp_path_factory.mktemp("kill") / "home"
    settings = Settings(home=home, network_dir=network)
    ledger = Ledger(settings.ledger, keys_dir=home / "keys").create()
    build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, settings.snapshots, workers=1, shards=4)
    build_snapshot(network, "strict", "ml_personalization", AS_OF, settings.snapshots, workers=1, shards=4)
    reader.stage_cached(network, home / "staged", progress=False)
    both = [catalog.load(settings.snapshots, p) for p in ("genai_training", "ml_personalization")]
    common = sorted(_members(both[0]) & _members(both[1]))
    ledger.append_request(common[0], "erase_account", NOW, client_request_id="k1", request_id="r1")
    ledger.append_request(common[1], "erase_account", NOW, client_request_id="k2", request_id="r2")
    ledger.append_event(common[2], "ml_personalization", "opt_out", "settings", NOW, client_request_id="k3")
    bundle = home / "exports" / common[0] / "x1.json"  # the center's export bundle of an erased member
    bundle.parent.mkdir(parents=True)
    bundle.write_text(json.dumps({"member_id": common[0]}))
    items = pq.read_table(network / "items.parquet", columns=["member_id", "text"]).to_pylist()
    text = max((r["text"] for r in items if r["member_id"] == common[1] and r["text"]), key=len)
    (home / "logs").mkdir()
    (home / "logs" / "app.log").write_text(f"INFO drafted {text}\nINFO done\n")  # a log holding an erased text
    ledger.close()
    return home


def _members(snap: catalog.Snapshot) -> set[str]:
    return set(pq.read_table(snap.path / layout.LINEAGE, columns=["member_id"]).column("member_id").to_pylist())


def _world(template: Path, dest: Path, network: Path):
    from consentry.ledger.store import Ledger
    from consentry.settings import Settings

    shutil.copytree(template, dest)
    settings = Settings(home=dest, network_dir=network)
    return settings, Ledger(settings.ledger, keys_dir=dest / "keys").create()


def _state(settings) -> dict:
    """What the rerun must converge to: per snapshot, items held and counts; receipts per member."""
    out = {}
    for s in catalog.list_snapshots(settings.snapshots):
        data = sum(pq.ParquetFile(f).metadata.num_rows for f in s.data_files())
        lineage = pq.read_table(s.path / layout.LINEAGE, columns=["item_id"]).column("item_id").to_pylist()
        out[s.ref] = {"data": data, "lineage": sorted(lineage), "content_hash": s.manifest.content_hash}
    return out


def _receipts(home: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in sorted((home / "receipts").glob("*/*.json")):
        r = json.loads(p.read_text())
        out.setdefault(p.stem, []).append({k: r[k] for k in ("snapshots", "left_as_is", "note")})
    return out


def _verify(settings, ledger, network: Path):
    from consentry.forgetting.verify import verify_erasure

    return verify_erasure(settings.snapshots, network, ledger=ledger, home=settings.home,
                          models_dir=settings.models)


def test_forget_killed_at_every_step_is_finished_by_a_rerun(template: Path, tmp_path: Path, network: Path) -> None:
    from consentry.forgetting.run import forget

    settings, ledger = _world(template, tmp_path / "reference", network)
    forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    assert _verify(settings, ledger, network).ok
    want, want_receipts = _state(settings), _receipts(settings.home)
    assert (settings.home / "logs" / "app.log").read_text() == "INFO done\n"
    assert len(want_receipts) == 3 and all(r[0]["snapshots"] for r in want_receipts.values())

    for point in POINTS:
        home = tmp_path / point.replace(":", "-")
        settings, ledger = _world(template, home, network)
        env = {**os.environ, "CONSENTRY_HOME": str(home), "CONSENTRY_NETWORK_DIR": str(network), KILL_ENV: point}
        p = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, check=False)
        assert p.returncode == -signal.SIGKILL, (point, p.stderr.decode()[-2000:])

        killed = _verify(settings, ledger, network)
        assert not killed.ok and killed.unfinished, point  # never reported done
        first = _receipts(home)

        forget(pending=True, settings=settings, ledger=ledger, retrain=False)
        report = _verify(settings, ledger, network)
        assert report.ok, (point, report.text())
        got = _state(settings)
        for ref, s in got.items():
            assert s["data"] == len(s["lineage"]), (point, ref)
            assert catalog.load(settings.snapshots, *ref.split("/")).unfinished_forget is None
        assert got == want, point
        assert not ledger.pending_requests()
        receipts = _receipts(home)
        for member, rs in receipts.items():
            assert all(r == want_receipts[member][0] for r in rs), (point, member)
            assert rs[0] == (first.get(member) or rs)[0]
        assert set(receipts) == set(want_receipts), point
        ledger.close()
