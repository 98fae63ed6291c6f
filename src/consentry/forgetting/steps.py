"""Named points of a forget run, where a crash test can kill the process.

`CONSENTRY_FORGET_KILL_AT=NAME` (or `NAME:N`, the N-th time NAME is reached) makes
the process SIGKILL itself there: no cleanup, no `finally`, like a power cut. The
kill tests run `forget` at every point in turn and check that a rerun finishes the
work. Unset, `reached` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

KILL_ENV = "CONSENTRY_FORGET_KILL_AT"

STEPS = (
    "run_journal",        # the run's journal is written, nothing else yet
    "snapshot_journal",   # a snapshot's redo journal is written
    "shard_rewritten",    # one shard file of a snapshot is replaced
    "lineage_rewritten",  # the snapshot's lineage no longer lists the removed items
    "tombstones_written",
    "manifest_swapped",   # the new manifest is in place, the snapshot journal not yet removed
    "snapshot_done",      # the snapshot's journal is removed
    "snapshots_done",     # every snapshot of the run is rewritten
    "staged_rewritten",   # staged exports no longer hold erased texts
    "exports_deleted",    # the center's export bundles of erased members are gone
    "caches_scrubbed",
    "logs_scrubbed",      # log lines holding an erased text are gone
    "models_retrained",
    "receipts_written",
    "subjects_shredded",  # the ledger destroyed the keys of members whose account is erased
    "request_marked",     # one erasure request is marked processed in the ledger
    "state_written",      # the ledger position of `--pending` is recorded
)

_seen: dict[str, int] = {}
_listeners: list[Callable[[str], None]] = []


@contextmanager
def watching(listener: Callable[[str], None]) -> Iterator[None]:
    """Call `listener(name)` at every step reached inside the block (the CLI's progress)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def reached(name: str) -> None:
    """Mark a step; kill the process if the environment asks for this one."""
    for listener in _listeners:
        listener(name)
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
