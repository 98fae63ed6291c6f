"""`forget --pending` says what it is doing: the status line follows the steps the run
reports (it once sat silent for minutes), and the kill-test hook stays as it was."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from consentry.cli import progress
from consentry.forgetting import steps
from consentry.forgetting.run import forget
from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF


def test_watching_sees_every_step_and_stops_after() -> None:
    seen: list[str] = []
    with steps.watching(seen.append):
        steps.reached("run_journal")
        steps.reached("shard_rewritten")
    steps.reached("receipts_written")
    assert seen == ["run_journal", "shard_rewritten"]


def test_forget_shows_its_steps_on_a_terminal(
    tmp_path: Path, network: Path, redaction_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.ledger.store import Ledger
    from consentry.settings import Settings

    settings = Settings(home=tmp_path / "home")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}").create()
    m = build_snapshot(
        network, "strict", "ml_personalization", AS_OF, settings.snapshots, workers=1
    )
    snap = catalog.load(settings.snapshots, "ml_personalization", m.version)
    member = pq.read_table(snap.path / layout.LINEAGE).column("member_id")[0].as_py()
    ledger.append_event(
        member,
        "ml_personalization",
        "opt_out",
        "settings",
        dt.datetime.now(dt.UTC),
        client_request_id="progress-test",
    )

    screen = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=screen, force_terminal=True, width=100))
    with progress.forget_steps():
        forget(pending=True, settings=settings, ledger=ledger, retrain=False)
    shown = screen.getvalue()
    for text in ("planning the run", "1 shard file(s) rewritten", *progress.FORGET_NEXT.values()):
        assert text in shown, text
