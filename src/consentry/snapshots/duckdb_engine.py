"""The embedded engine: DuckDB runs the decision plan, a process pool runs redaction.

Memory stays bounded: DuckDB works under `memory_limit` with a spill directory,
allowed items stream out of it in record batches, at most two batches per worker
are in flight, and redacted rows go straight to per-shard Parquet writers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from consentry.network.schema import TABLES
from consentry.snapshots import kernel
from consentry.snapshots.inputs import Inputs
from consentry.snapshots.verdicts import verdict_sql

_REDACTOR: Any = None


@dataclass
class EngineResult:
    """What an engine reports besides the work files."""

    input_items: int
    allowed: int
    by_region_group: dict[str, dict[str, int]]
    timings: dict[str, float] = field(default_factory=dict)


ALLOWED_SQL = """
SELECT v.item_id, v.member_id, i.kind, i.created_at, i.text
FROM verdicts v JOIN items i ON v.item_id = i.item_id
WHERE v.allowed
"""

GROUPS_SQL = """
SELECT region_group, CASE WHEN allowed THEN 'allowed' ELSE 'excluded' END AS verdict, count(*) AS n
FROM verdicts GROUP BY ALL ORDER BY ALL
"""


def connect(inputs: Inputs, work: Path, memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    """A connection with a view per staged (or ledger-merged) table.

    Views are created from `inputs.tables` rather than the whole staged directory
    so that ledger-merged tables replace the export's; absent optional tables are
    stood in by `policy.decide` with empty tables of the export schema.
    """
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET threads={max(1, threads)}")
    con.execute(f"SET temp_directory='{work / 'duckdb_tmp'}'")
    con.execute("SET preserve_insertion_order=false")
    for name in TABLES:
        path = inputs.tables.get(name)
        if path is not None:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def _init_worker(redactor: Any) -> None:
    global _REDACTOR
    _REDACTOR = redactor
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_batch(shards: int, batch: pa.RecordBatch) -> pa.RecordBatch:
    return kernel.process_batch(_REDACTOR, shards, batch)


def start_pool(redactor: Any, workers: int) -> Any:
    """Fork the redaction workers up front, before DuckDB starts any thread."""
    if workers <= 1:
        return None
    from consentry.redact.redactor import start_pool as start

    return start(redactor, workers, _init_worker, (redactor,))


def _redacted(
    reader: Iterator[pa.RecordBatch], redactor: Any, shards: int, pool: Any, workers: int
) -> Iterator[pa.RecordBatch]:
    """Redact batches in input order, with at most two batches per worker in flight."""
    if pool is None:
        for b in reader:
            yield kernel.process_batch(redactor, shards, b)
        return
    from consentry.redact.redactor import map_ordered

    yield from map_ordered(pool, partial(_run_batch, shards), reader, 2 * workers)


class ShardWriters:
    """One open Parquet writer per shard under `work/redacted/shard=N/` (Spark's layout)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.schema = pa.schema([f for f in kernel.WORK_SCHEMA if f.name != "shard"])

    def write(self, batch: pa.RecordBatch) -> None:
        t = pa.Table.from_batches([batch])
        shard_col = t.column("shard")
        t = t.drop_columns(["shard"])
        import pyarrow.compute as pc

        for shard in pc.unique(shard_col).to_pylist():
            part = t.filter(pc.equal(shard_col, shard))
            w = self.writers.get(shard)
            if w is None:
                d = self.root / f"shard={shard}"
                d.mkdir(parents=True, exist_ok=True)
                w = self.writers[shard] = pq.ParquetWriter(d / "part-00000.parquet", self.schema)
            w.write_table(part)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def run(
    inputs: Inputs,
    pack: Any,
    purpose: str,
    as_of: Any,
    work: Path,
    *,
    shards: int,
    workers: int,
    redactor: Any,
    memory_limit: str = "1500MB",
    batch_rows: int = 4096,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> EngineResult:
    """Decide, redact and spill into `work/` (see finalize.py for what it holds)."""
    from consentry.policy import decide

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pool = start_pool(redactor, workers)
    con = connect(inputs, work, memory_limit, threads=workers)
    decide.decide(con, pack, purpose, as_of).create_view("decisions_v", replace=True)
    decisions = "SELECT * FROM decisions_v"
    con.execute("CREATE TEMP TABLE verdicts AS " + verdict_sql(decisions, "duckdb"))
    input_items, allowed = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE allowed) FROM verdicts"
    ).fetchone()
    groups: dict[str, dict[str, int]] = {}
    for g, verdict, n in con.execute(GROUPS_SQL).fetchall():
        groups.setdefault(g, {})[verdict] = n
    (work / "policy_excluded").mkdir(parents=True, exist_ok=True)
    con.execute(
        "COPY (SELECT item_id, member_id, reasons FROM verdicts WHERE NOT allowed) "
        f"TO '{work / 'policy_excluded' / 'part-00000.parquet'}' (FORMAT parquet)"
    )
    timings["decide_s"] = time.perf_counter() - t0
    if progress:
        progress("decided", input_items, input_items)

    t1 = time.perf_counter()
    reader = con.sql(ALLOWED_SQL).to_arrow_reader(batch_rows)
    writers = ShardWriters(work / "redacted")
    done = 0
    try:
        for out in _redacted(iter(reader), redactor, shards, pool, workers):
            writers.write(out)
            done += out.num_rows
            if progress:
                progress("redact", done, allowed)
    finally:
        writers.close()
        con.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    timings["redact_s"] = time.perf_counter() - t1
    return EngineResult(input_items, allowed, groups, timings)
