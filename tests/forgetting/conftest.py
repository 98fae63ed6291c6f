"""A small synthetic network shared by the snapshot tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

AS_OF = "2025-12-01"


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from consentry.network import synth

    out = tmp_path_factory.mktemp("net") / "network"
    synth.generate(out, members=150, seed=11, progress=False)
    return out


@pytest.fixture(scope="session")
def redaction_key() -> None:
    """One pseudonymisation key for every build of the session (stable content hashes)."""
    import os

    os.environ.setdefault("CONSENTRY_REDACTION_KEY", "test-key-0123456789")
