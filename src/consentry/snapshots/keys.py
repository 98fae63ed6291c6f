"""The pseudonymisation (redaction) key: kept outside the data tree, named by an id.

The key makes pseudonyms stable (same inputs → same content hash) and unlinkable to
anyone without it, so it must never travel with the data it protects. It is read
from `CONSENTRY_REDACTION_KEY`, else from `$CONSENTRY_HOME/keys/redaction.key`
(created 0600 on first use, beside the ledger's audit key). A key left by older
versions at `<snapshots root>/.redaction-key` is moved there on first use, so the
content hashes of existing snapshots stay reproducible. Manifests and model versions
record `key_id` (a hash-derived id), never the key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path

from consentry.snapshots.layout import fsync_path

ENV = "CONSENTRY_REDACTION_KEY"
KEY_FILE = "redaction.key"
LEGACY_FILE = ".redaction-key"


class RedactionKeyError(RuntimeError):
    """The key cannot be read or migrated; the message names the file and what to do."""


def keys_dir(home: str | Path | None = None) -> Path:
    if home is None:
        from consentry.settings import Settings

        home = Settings().home
    return Path(home).expanduser() / "keys"


def key_id(key: bytes) -> str:
    """A public name for a key: the first 16 hex digits of a domain-separated sha256."""
    return hashlib.sha256(b"consentry-redaction-key-id\0" + key).hexdigest()[:16]


def _migrate(legacy: Path, path: Path) -> None:
    """Move a key found in the data tree to the keys folder (0600), then remove the original."""
    if path.exists():
        if path.read_bytes() != legacy.read_bytes():
            raise RedactionKeyError(
                f"{legacy}: a redaction key inside the snapshots differs from {path}; keep the one "
                f"your snapshots were built with in {path} (or {ENV}) and delete the other"
            )
        legacy.unlink()
        return
    tmp = path.with_name(f".tmp-{secrets.token_hex(8)}-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        with open(legacy, "rb") as src:
            shutil.copyfileobj(src, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)
    legacy.unlink()
    fsync_path(legacy.parent)


def load(snapshots_root: str | Path | None = None, *, home: str | Path | None = None) -> bytes:
    """The redaction key (env, else the keys folder, created once), migrating a legacy key file.

    `snapshots_root` is only searched for a legacy `.redaction-key` to move out.
    """
    env = os.environ.get(ENV)
    if env:
        return env.encode()
    directory = keys_dir(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / KEY_FILE
    if snapshots_root is not None:
        legacy = Path(snapshots_root) / LEGACY_FILE
        if legacy.exists():
            _migrate(legacy, path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if not key.strip():
            raise RedactionKeyError(
                f"{path}: empty redaction key; restore it from a backup"
            ) from None
        return key
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_hex(32).encode())
        fh.flush()
        os.fsync(fh.fileno())
    return path.read_bytes()
