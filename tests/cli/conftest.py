"""Helpers for running `consentry` as a user does: a subprocess, in a directory, with
its own CONSENTRY_HOME and terminal width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose `consentry` is this tree's, with a fresh home under tmp_path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "consentry"
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} -m consentry "$@"\n')
    exe.chmod(0o755)
    env = {
        **os.environ,
        "CONSENTRY_HOME": str(tmp_path / "home"),
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        "COLUMNS": "80",
        "HF_HUB_OFFLINE": "1",
    }
    for var in ("CONSENTRY_NETWORK_DIR", "CONSENTRY_LEDGER_URL", "CONSENTRY_DEBUG"):
        env.pop(var, None)
    return env


def consentry(env: dict[str, str], *args: str, cwd: Path, timeout: int = 300) -> str:
    res = subprocess.run(
        ["consentry", *args],
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, f"consentry {' '.join(args)}: {res.stdout}{res.stderr}"
    return res.stdout
