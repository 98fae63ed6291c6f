"""`Redactor.redact_batch`: the one function both engines call on Arrow record batches.

DuckDB's path maps it over batches in a process pool (`redact_parallel`); Spark calls
it inside `mapInArrow`. It is deterministic (same batch, config and key ⇒ same
output) and picklable (the directory automaton pickles with it), and it never
reorders or drops rows: a row whose text is too dense with personal data keeps its
place with `text` null and `dropped` true, so the caller can log why.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial

import pyarrow as pa

from consentry.redact.allow import AllowList
from consentry.redact.config import RedactConfig
from consentry.redact.detect import spans_for
from consentry.redact.directory import MemberDirectory
from consentry.redact.operators import mask, pseudonymise
from consentry.redact.spans import Span, resolve


class Redactor:
    """Find and replace personal data per a `RedactConfig`."""

    def __init__(
        self,
        config: RedactConfig | None = None,
        directory: MemberDirectory | None = None,
        key: bytes | None = None,
    ) -> None:
        self.config = config or RedactConfig()
        if self.config.operator == "pseudonymise" and not key:
            raise ValueError("the pseudonymise operator needs a secret key (bytes); none was given")
        self.key = key or b""
        self.directory = directory
        self.extra = MemberDirectory.from_names(self.config.always_redact) if self.config.always_redact else None
        self._types = frozenset(self.config.types)
        self.allow = AllowList(self.config.allow_terms) if self.config.allow_terms else None

    def spans(self, text: str | None) -> list[Span]:
        if not text:
            return []
        found = spans_for(text, self._types, self.directory, self.config.person_threshold, self.allow)
        if self.extra is not None:
            found = resolve(found + self.extra.find(text))
        return [s for s in found if s.score >= self.config.min_score]

    def spans_batch(self, texts: list[str | None]) -> list[list[Span]]:
        """`spans` of each text, in order (the unit of work `parallel_map` ships to a worker)."""
        return [self.spans(t) for t in texts]

    def redact_text(self, text: str | None) -> tuple[str | None, int, bool]:
        """(new text, number of spans, dropped)."""
        if not text:
            return text, 0, False
        spans = self.spans(text)
        if not spans:
            return text, 0, False
        md = self.config.max_pii_density
        if md is not None and sum(s.end - s.start for s in spans) / len(text) > md:
            return None, len(spans), True
        parts: list[str] = []
        pos = 0
        for s in spans:
            surface = text[s.start:s.end]
            parts.append(text[pos:s.start])
            if self.config.operator == "pseudonymise":
                parts.append(pseudonymise(s, surface, self.key))
            else:
                parts.append(mask(s, surface))
            pos = s.end
        parts.append(text[pos:])
        return "".join(parts), len(spans), False

    def redact_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Replace column `text`, add `pii_count` (int32) and `dropped` (bool); rows keep order."""
        if "text" not in batch.schema.names:
            raise KeyError(f"record batch has no 'text' column (columns: {batch.schema.names})")
        i = batch.schema.get_field_index("text")
        texts, counts, dropped = [], [], []
        for t in batch.column(i).to_pylist():
            nt, c, d = self.redact_text(t)
            texts.append(nt)
            counts.append(c)
            dropped.append(d)
        names = [n for n in batch.schema.names if n not in ("pii_count", "dropped")]
        arrays = [
            pa.array(texts, type=batch.schema.field(i).type) if n == "text" else batch.column(n)
            for n in names
        ]
        arrays += [pa.array(counts, type=pa.int32()), pa.array(dropped, type=pa.bool_())]
        return pa.RecordBatch.from_arrays(arrays, names=names + ["pii_count", "dropped"])

    def redact_parallel(self, batches: Iterable[pa.RecordBatch], workers: int | None = None) -> Iterator[pa.RecordBatch]:
        return redact_parallel(self, batches, workers)

    def warm_up(self) -> None:
        """Load every detector's lazily read data (name lists, word frequencies, model, phone metadata)."""
        self.spans(WARM_UP_TEXT)


# Touches every detector, so that what they load lazily is loaded once.
WARM_UP_TEXT = ("Anna Kowalski (@anna_k) met #JohnSmith and Dzeko in Lyon: anna.k@example.com, +44 20 7946 0958, "
                "+1 415 555 0100, 192.0.2.1, https://example.com/x, card 4111 1111 1111 1111, "
                "IBAN GB82 WEST 1234 5698 7654 32, SSN 078-05-1120, 221B Baker Street")


def _started() -> None:
    """A no-op task: its result means every worker process exists."""


def _worker_start(parent: int, initializer, initargs: tuple) -> None:  # noqa: ANN001
    """In each worker: die with the parent, then run the caller's initializer.

    A pool's workers wait on a queue that they themselves hold open, so a parent
    killed outright (SIGKILL, the OOM killer) would leave them, and anything waiting
    on their inherited pipes, waiting forever. On Linux the kernel ends them when the
    thread that forked them goes away (PR_SET_PDEATHSIG; callers fork and shut the
    pool down in one call, so that thread outlives the pool). A parent that died
    before the request took effect is seen here: the worker's parent is no longer
    `parent` (the pid of the process that made the pool), and it exits at once.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)
    initializer(*initargs)


def fork_pool(redactor: Redactor, workers: int, initializer, initargs: tuple) -> ProcessPoolExecutor:  # noqa: ANN001
    """A process pool forked from this process now, made safe to fork from a busy parent.

    Forked children inherit the parent's memory but not its threads. Two things went
    wrong there: a child importing modules or loading data on first use and a child's garbage collector walking objects that other
    threads of the parent left half-made (a segfault). So the parent loads everything
    first (`warm_up`), and `gc.freeze()` moves what exists at fork time out of the
    collector's reach in the children; the children share it copy-on-write. The
    workers are forked before this returns (a forking executor starts all of them on
    its first task), so a caller can fork before it starts threads of its own. A
    worker that dies anyway fails every pending task with `BrokenProcessPool`
    instead of leaving the caller waiting forever.
    """
    import gc

    redactor.warm_up()
    gc.collect()
    gc.freeze()
    try:
        pool = _executor("fork", workers, initializer, initargs)
        pool.submit(_started).result()
        return pool
    finally:
        gc.unfreeze()


def _executor(method: str, workers: int, initializer, initargs: tuple) -> ProcessPoolExecutor:  # noqa: ANN001
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_worker_start,
                               initargs=(os.getpid(), initializer, initargs))


def start_pool(redactor: Redactor, workers: int, initializer, initargs: tuple) -> ProcessPoolExecutor:  # noqa: ANN001
    """Forked where the platform can fork (see `fork_pool`), spawned elsewhere."""
    if "fork" in mp.get_all_start_methods():
        return fork_pool(redactor, workers, initializer, initargs)
    return _executor("spawn", workers, initializer, initargs)


def map_ordered(pool: ProcessPoolExecutor, fn, items: Iterable, in_flight: int) -> Iterator:  # noqa: ANN001
    """`fn(item)` for each item on the pool, in input order, at most `in_flight` pending.

    Unlike `Executor.map` it reads `items` lazily, so memory stays bounded however
    many batches stream through.
    """
    pending: deque[Future] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_WORKER: Redactor | None = None


def _init(redactor: Redactor) -> None:
    global _WORKER
    _WORKER = redactor


def _call(method: str, item):  # noqa: ANN001, ANN202 - whatever the Redactor method takes and returns
    assert _WORKER is not None
    return getattr(_WORKER, method)(item)


def parallel_map(redactor: Redactor, method: str, items: Iterable, workers: int | None = None) -> Iterator:
    """`redactor.<method>(item)` for each item on `workers` processes (default: all cores), in input order.

    Items are read lazily, at most two per worker in flight; with one worker, all runs in this process.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        fn = getattr(redactor, method)
        for item in items:
            yield fn(item)
        return
    pool = start_pool(redactor, workers, _init, (redactor,))
    try:
        yield from map_ordered(pool, partial(_call, method), items, 2 * workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def redact_parallel(
    redactor: Redactor, batches: Iterable[pa.RecordBatch], workers: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Redact batches on `workers` processes (default: all cores), yielding in input order."""
    return parallel_map(redactor, "redact_batch", batches, workers)
