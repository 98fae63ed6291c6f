"""The redaction process pool: ordered, bounded, and loud when a worker dies."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool

import pyarrow as pa
import pytest

from consentry.redact import Redactor
from consentry.redact.redactor import map_ordered, start_pool


def _noop() -> None:
    pass


def _square_or_die(x: int) -> int:
    if x == 3:
        os._exit(1)  # a worker lost mid-task, as a segfault would lose it
    return x * x


def _square(x: int) -> int:
    return x * x


def test_a_dead_worker_fails_the_run_instead_of_hanging() -> None:
    pool = start_pool(Redactor(), 2, _noop, ())
    try:
        with pytest.raises(BrokenProcessPool):
            list(map_ordered(pool, _square_or_die, range(10), 4))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_results_keep_input_order_and_the_input_is_read_lazily() -> None:
    read: list[int] = []

    def items():
        for i in range(50):
            read.append(i)
            yield i

    pool = start_pool(Redactor(), 2, _noop, ())
    try:
        out = map_ordered(pool, _square, items(), 4)
        assert next(out) == 0
        assert len(read) == 4  # no more than `in_flight` submitted ahead
        assert [0, *out] == [i * i for i in range(50)]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_parallel_redaction_matches_one_process() -> None:
    texts = [f"Please write to anna{i}@example.com about the quarterly hiring plan for the new product team"
             for i in range(40)]
    batches = [pa.RecordBatch.from_pydict({"item_id": [f"i{k}" for k in range(j, j + 10)], "text": texts[j:j + 10]})
               for j in range(0, 40, 10)]
    r = Redactor()
    one = [r.redact_batch(b) for b in batches]
    many = list(r.redact_parallel(iter(batches), workers=2))
    assert [b.to_pylist() for b in many] == [b.to_pylist() for b in one]
    assert all(t and "[EMAIL]" in t for b in many for t in b.column("text").to_pylist())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_a_worker_whose_parent_is_already_gone_exits_before_its_initializer() -> None:
    # A worker started after its pool's maker died sees another parent (init, a subreaper):
    # it must not go on to wait on the dead parent's queue.
    code = ("import os, sys\n"
            "from consentry.redact.redactor import _worker_start\n"
            "_worker_start(os.getppid() + 1, lambda: print('initialised'), ())\n")
    gone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and "initialised" not in gone.stdout
    alive = subprocess.run([sys.executable, "-c", code.replace("os.getppid() + 1", "os.getppid()")],
                           capture_output=True, text=True, timeout=60)
    assert alive.returncode == 0 and "initialised" in alive.stdout
