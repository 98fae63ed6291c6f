"""Where a snapshot lives on disk and how it appears there atomically.

A snapshot is written into `root/<purpose>/.tmp-<uuid>/`, fsynced, and renamed to
`root/<purpose>/vNNNN/` only when complete: readers never see a partial snapshot,
and a killed build leaves only a `.tmp-*` directory that the next build removes.
Version numbers are allocated under the purpose lock before anything is written
(`next_version`), so the manifest, the dataset card and the data files all name the
version they will be published as.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

VERSION_RE = re.compile(r"^v(\d{4,})$")
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"

MANIFEST = "manifest.json"
LINEAGE = "lineage.parquet"
EXCLUDED = "excluded.parquet"
QUARANTINE = "quarantine.jsonl"
INTERACTIONS = "interactions.parquet"
JOBS = "jobs.parquet"
TOMBSTONES = "tombstones.parquet"
JOURNAL = "forget-journal.json"
DATA = "data"
FORGET_DIR = ".forget"
"""Under the snapshots root: one journal per forget run that has not finished."""


def shard_dir(snapshot: Path, shard: int) -> Path:
    return snapshot / DATA / f"shard={shard:02d}"


def shard_file(snapshot: Path, shard: int) -> Path:
    """One sorted file per shard: the unit that forgetting rewrites."""
    return shard_dir(snapshot, shard) / "part-00000.parquet"


def versions(purpose_dir: Path) -> list[str]:
    """Published versions of one purpose, oldest first."""
    if not purpose_dir.is_dir():
        return []
    found = [p.name for p in purpose_dir.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return sorted(found, key=lambda v: int(v[1:]))


def fsync_path(path: Path) -> None:
    """Flush one file or directory to disk (a directory: so that a rename or new entry in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush every file and directory under `path` so a rename publishes durable bytes."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            fsync_path(Path(dirpath, name))
        fsync_path(Path(dirpath))


def replace_file(tmp: Path, path: Path) -> None:
    """Flush a finished temporary file and rename it over `path`: readers see the old or
    the new file, never a mix, and the new bytes are on disk before the name points at them."""
    fsync_path(tmp)
    os.replace(tmp, path)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace one file in a single rename: readers see the old or the new bytes, never a mix."""
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


@contextlib.contextmanager
def purpose_lock(purpose_dir: Path) -> Iterator[None]:
    """Serialise builds and forget runs on one purpose (a crash releases the lock)."""
    purpose_dir.mkdir(parents=True, exist_ok=True)
    with open(purpose_dir / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def clean_stale(purpose_dir: Path) -> list[Path]:
    """Remove `.tmp-*` leftovers of killed builds (caller holds the purpose lock)."""
    removed = []
    if purpose_dir.is_dir():
        for p in purpose_dir.iterdir():
            if p.name.startswith(TMP_PREFIX):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def new_tmp(purpose_dir: Path) -> Path:
    tmp = purpose_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    return tmp


def next_version(purpose_dir: Path) -> str:
    """The version the next build will publish as (caller holds the purpose lock).

    Builds and forget runs on a purpose are serialised by `purpose_lock`, so the
    version allocated here is free until `publish`; knowing it before the files are
    written lets the manifest, the dataset card and every data file name it.
    """
    existing = versions(purpose_dir)
    return f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"


def publish(tmp: Path, purpose_dir: Path, version: str) -> str:
    """Rename a complete tmp dir to `version` (from `next_version`); returns it.

    Refuses, rather than overwrite, when that version exists (someone published
    without the lock): the caller's tmp dir is then removed and nothing is lost.
    """
    fsync_tree(tmp)
    target = purpose_dir / version
    if target.exists():
        raise FileExistsError(f"{target}: already published (was the purpose lock bypassed?)")
    os.rename(tmp, target)
    fsync_path(purpose_dir)
    return version


class UnfinishedForget(RuntimeError):
    """A snapshot a forget run has not finished with: reading it would see erased data or torn files."""


def forget_runs(root: Path) -> list[dict]:
    """The journals of unfinished forget runs under a snapshots root, oldest first."""
    d = Path(root) / FORGET_DIR
    out = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            if p.name.startswith(TMP_PREFIX):
                continue  # a journal being written (or a killed write): never the journal itself
            try:
                out.append(json.loads(p.read_bytes()))
            except (OSError, ValueError):
                out.append({"run_id": p.stem, "snapshots": None, "phase": "unreadable", "path": str(p)})
    return out


def forget_state(snapshot: Path) -> str | None:
    """Why `snapshot` must not be read now, or None when no forget is unfinished on it.

    Torn: a forget run was interrupted while rewriting its files (data and lineage may
    disagree). Pending: an unfinished run has yet to remove data from it. Only the
    layout is needed, so any reader (training, the center) can ask.
    """
    snapshot = Path(snapshot)
    ref = f"{snapshot.parent.name}/{snapshot.name}"
    journal = snapshot / JOURNAL
    if journal.exists():
        try:
            run = json.loads(journal.read_bytes()).get("run_id", "?")
        except (OSError, ValueError):
            run = "?"
        return f"{ref}: forget run {run} was interrupted while rewriting this snapshot (torn)"
    for j in forget_runs(snapshot.parent.parent):
        planned = j.get("snapshots")
        if j.get("phase") in (None, "snapshots", "unreadable") and (planned is None or ref in planned):
            return f"{ref}: forget run {j.get('run_id')} has not yet removed its data from this snapshot"
    return None


def require_whole(snapshot: Path) -> None:
    """Refuse a snapshot with an unfinished forget: one line naming it and the fix."""
    why = forget_state(snapshot)
    if why:
        raise UnfinishedForget(f"{why}; run consentry forget --resume (or --pending) before reading it")
