"""A small synthetic export shared by the network tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentry.network import synth

MEMBERS = 400
SEED = 11


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "export"
    synth.generate(out, members=MEMBERS, seed=SEED, progress=False, chunk_members=150)
    return out


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 members: enough rows of every table for the reader tests, cheap to copy and stage."""
    out = tmp_path_factory.mktemp("synth") / "tiny"
    synth.generate(out, members=40, seed=2, progress=False)
    return out
