"""The redaction key lives outside the data tree ($CONSENTRY_HOME/keys, 0600), never beside snapshots."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from consentry.snapshots import keys
from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    monkeypatch.delenv(keys.ENV, raising=False)
    return home


def test_build_keeps_the_key_in_the_keys_folder(
    no_env_key: Path, tmp_path: Path, network: Path
) -> None:
    root = tmp_path / "snaps"
    m = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, root, shards=2, workers=1)
    path = no_env_key / "keys" / keys.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert m.provenance["redaction_key_id"] == keys.key_id(path.read_bytes())
    assert not any(p.name in (keys.LEGACY_FILE, keys.KEY_FILE) for p in root.rglob("*"))


def test_legacy_key_is_moved_out_of_the_snapshots(no_env_key: Path, tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    root.mkdir()
    (root / keys.LEGACY_FILE).write_bytes(b"old-key")
    assert keys.load(root) == b"old-key"  # same key: old snapshots stay reproducible
    assert not (root / keys.LEGACY_FILE).exists()
    path = no_env_key / "keys" / keys.KEY_FILE
    assert path.read_bytes() == b"old-key" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_conflicting_legacy_key_is_refused(no_env_key: Path, tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    root.mkdir()
    assert keys.load(root)  # creates the keys folder's key
    (root / keys.LEGACY_FILE).write_bytes(b"another")
    with pytest.raises(keys.RedactionKeyError, match="differs"):
        keys.load(root)
    assert (root / keys.LEGACY_FILE).exists()  # nothing lost


def test_environment_key_wins(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv(keys.ENV, "from-env")
    assert keys.load() == b"from-env"
    assert not (home / "keys" / keys.KEY_FILE).exists()
