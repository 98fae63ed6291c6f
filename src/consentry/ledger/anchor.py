"""The keyed anchor of the audit chain: a secret kept outside the database.

A hash chain alone proves nothing against someone who can write the database: they
can delete the newest rows with their links, or edit a row and recompute every link
after it. So every write transaction also stores a checkpoint of the chain head,
mac = HMAC-SHA256(audit key, ledger id || seq || hash), and the newest checkpoint is
also written to a head file beside the key. Re-linked links no longer match their
checkpoints (and new MACs cannot be made without the key); a truncated tail falls
short of the head file. `audit verify` checks both and names the first bad seq.

The key is 32 random bytes as 64 hex digits, read from `CONSENTRY_AUDIT_KEY` or from
`$CONSENTRY_HOME/keys/audit.key` (created 0600 on the first write to a ledger that
has no checkpoints yet). A ledger whose chain is checkpointed refuses to write
without its key rather than start a second, unverifiable one. Several processes
writing one PostgreSQL ledger must share the key (set the variable on every node);
each keeps its own head file, which records the newest head that node wrote.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "CONSENTRY_AUDIT_KEY"
KEY_FILE = "audit.key"
KEY_BYTES = 32
HEAD_BYTES = 512  # the head file is padded to this, so every rewrite covers the last one


class AuditKeyError(RuntimeError):
    """The audit key is missing, empty, short or readable by others."""


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    source: str

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key, stored with each checkpoint (never the key)."""
        return hashlib.sha256(b"consentry-audit-key-id\0" + self.secret).hexdigest()[:16]

    def mac(self, ledger_id: str, seq: int, link_hash: str) -> str:
        msg = f"consentry-audit-checkpoint\0{ledger_id}\0{int(seq)}\0{link_hash}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def check(self, ledger_id: str, seq: int, link_hash: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(ledger_id, seq, link_hash), mac)


def keys_dir(home: str | Path | None = None) -> Path:
    if home is None:
        from consentry.settings import Settings

        home = Settings().home
    return Path(home).expanduser() / "keys"


def _decode(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise AuditKeyError(f"audit key in {source} is not hex (expected {2 * KEY_BYTES} hex digits)") from None
    if len(secret) < KEY_BYTES:
        raise AuditKeyError(f"audit key in {source} is {len(secret)} bytes; at least {KEY_BYTES} are required "
                            f"(make one with: python -c 'import secrets; print(secrets.token_hex(32))')")
    return secret


def load_key(directory: Path, *, create: bool = False) -> AuditKey | None:
    """The audit key from the environment or `directory/audit.key`; a new key file when
    there is none and `create`; None when there is none and not `create`."""
    env = os.environ.get(ENV)
    if env is not None:
        return AuditKey(_decode(env, f"${ENV}"), f"${ENV}")
    path = directory / KEY_FILE
    if not path.exists() and create:
        _create_key(path)
    if not path.exists():
        return None
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditKeyError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}")
    return AuditKey(_decode(path.read_text(encoding="ascii", errors="replace"), str(path)), str(path))


def _create_key(path: Path) -> None:
    """Write a fresh key so that `path` is never seen empty: written and synced under
    a temporary name, then hard-linked into place (a concurrent creator's key wins)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (os.urandom(KEY_BYTES).hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def head_path(directory: Path, ledger_id: str) -> Path:
    return directory / f"ledger-{ledger_id}.head"


def read_head(directory: Path, ledger_id: str) -> dict[str, Any] | None:
    """The newest checkpoint this home wrote for the ledger; None when there is none.
    Raises ValueError when the file exists but is not a checkpoint."""
    path = head_path(directory, ledger_id)
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(head, dict) or not {"seq", "hash", "mac", "key_id"} <= set(head):
        raise ValueError(f"{path} is not a checkpoint (needs seq, hash, key_id, mac)")
    return head


def write_head(directory: Path, ledger_id: str, checkpoint: dict[str, Any]) -> None:
    """Record `checkpoint` as the newest head unless a newer one is already recorded
    (writers of one ledger may commit in one order and get here in another)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = head_path(directory, ledger_id)
    with open(directory / f".ledger-{ledger_id}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_head(directory, ledger_id)
        except ValueError:
            current = None
        if current is not None and int(current["seq"]) >= int(checkpoint["seq"]):
            return
        # Rewritten in place as one small write (no rename, no fsync: those cost ~1-8 ms
        # per ledger write here). After a crash the file may lag behind the database,
        # which only weakens the check, or be torn, which `audit verify` names and the
        # next write repairs.
        data = json.dumps({"ledger_id": ledger_id, **checkpoint}, sort_keys=True).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data.ljust(HEAD_BYTES), 0)
            os.ftruncate(fd, max(len(data), HEAD_BYTES))
        finally:
            os.close(fd)
