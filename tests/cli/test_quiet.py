"""Quiet start-up: creating or upgrading the ledger logs no Alembic INFO lines, even
under `consentry serve`'s INFO logging; `serve -v` turns them back on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # what `consentry serve` configures
if {verbose}:
    logging.getLogger("alembic").setLevel(logging.INFO)  # what `serve -v` sets
from consentry.ledger.store import Ledger
Ledger({url!r}).create()
"""


def _log(tmp_path: Path, verbose: bool) -> str:
    url = f"sqlite:///{tmp_path / ('v' if verbose else 'q')}.sqlite"
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(url=url, verbose=verbose)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return res.stderr


def test_ledger_migrations_log_nothing_at_info(tmp_path: Path) -> None:
    assert "alembic" not in _log(tmp_path, verbose=False)


def test_verbose_shows_the_migrations(tmp_path: Path) -> None:
    assert "INFO:alembic" in _log(tmp_path, verbose=True)
