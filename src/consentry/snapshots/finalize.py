"""Turn an engine's work directory into the published snapshot files.

Both engines leave the same thing behind: redacted rows partitioned by shard
(`work/redacted/shard=N/*.parquet`) and the policy exclusions
(`work/policy_excluded/*.parquet`). Finalising is shared code, so sorting, file
bytes, lineage and the content hash cannot differ between DuckDB and Spark.
Memory is bounded by one shard at a time; the excluded log streams through DuckDB.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.snapshots import kernel, layout

SHARD_DIR_RE = re.compile(r"^shard=(\d+)$")


@dataclass
class Finalized:
    shard_hashes: dict[str, str]
    content_hash: str
    included: int
    dropped: int
    excluded: int
    by_reason: dict[str, int]
    shard_rows: dict[str, int] = field(default_factory=dict)
    interactions: int | None = None
    jobs: int | None = None


def _shard_files(redacted: Path) -> dict[int, list[Path]]:
    out: dict[int, list[Path]] = {}
    if redacted.is_dir():
        for d in redacted.iterdir():
            m = SHARD_DIR_RE.match(d.name)
            if m and d.is_dir():
                out[int(m.group(1))] = sorted(d.glob("*.parquet"))
    return out


def _read_shard(files: list[Path], shard: int) -> pa.Table:
    """One shard's work rows; `shard` comes from the directory (Spark's writer drops the column)."""
    cols = [c for c in kernel.DATA_SCHEMA.names if c != "shard"] + ["drop_reason"]
    schema = pa.schema([kernel.WORK_SCHEMA.field(c) for c in [*cols, "shard"]])
    parts = []
    for f in files:
        t = pq.read_table(f, columns=cols)
        t = t.append_column("shard", pa.array([shard] * t.num_rows, pa.int32()))
        parts.append(t.cast(schema))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def finalize(
    work: Path,
    out: Path,
    shards: int,
    staged: Path,
    *,
    memory_limit: str = "1GB",
    progress: Callable[[int], None] | None = None,
    file_meta: Callable[[int], dict[str, str]] | None = None,
) -> Finalized:
    """Write data, lineage, excluded, quarantine, jobs and interactions into `out`.

    `file_meta(shard)` gives each data file's key-value metadata (`kernel.file_metadata`).
    """
    files = _shard_files(work / "redacted")
    unknown = sorted(set(files) - set(range(shards)))
    if unknown:
        raise ValueError(f"{work / 'redacted'}: rows in shards {unknown} outside 0..{shards - 1}")
    dropped_path = work / "dropped.parquet"
    shard_hashes: dict[str, str] = {}
    shard_rows: dict[str, int] = {}
    included = dropped = 0
    with (
        pq.ParquetWriter(out / layout.LINEAGE, kernel.LINEAGE_SCHEMA, **kernel.WRITE_OPTIONS) as lin,
        pq.ParquetWriter(dropped_path, kernel.EXCLUDED_SCHEMA) as drop_w,
    ):
        for shard in range(shards):
            t = _read_shard(files.get(shard, []), shard)
            is_drop = pc.is_valid(t.column("drop_reason"))
            gone = t.filter(is_drop)
            if gone.num_rows:
                dropped += gone.num_rows
                reasons = pa.array([[r] for r in gone.column("drop_reason").to_pylist()],
                                   pa.list_(pa.string()))
                drop_w.write_table(pa.Table.from_arrays(
                    [gone.column("item_id"), gone.column("member_id"), reasons],
                    schema=kernel.EXCLUDED_SCHEMA))
            kept = t.filter(pc.invert(is_drop)).sort_by("item_id")
            digest = kernel.write_data_file(kept, layout.shard_file(out, shard),
                                            file_meta(shard) if file_meta else {})
            lin.write_table(pa.Table.from_arrays(
                [kept.column("item_id"), kept.column("member_id"),
                 pa.array([shard] * kept.num_rows, pa.int32()), kept.column("content_hash")],
                schema=kernel.LINEAGE_SCHEMA))
            shard_hashes[f"{shard:02d}"] = digest
            shard_rows[f"{shard:02d}"] = kept.num_rows
            included += kept.num_rows
            if progress:
                progress(t.num_rows)
            del t, kept, gone

    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET temp_directory='{work / 'duckdb_tmp'}'")
    sources = sorted((work / "policy_excluded").rglob("*.parquet")) + [dropped_path]
    q = (
        f"SELECT item_id::VARCHAR AS item_id, member_id::VARCHAR AS member_id, "
        f"reasons::VARCHAR[] AS reasons FROM read_parquet({_sql_list(sources)}, union_by_name=true) "
        f"ORDER BY item_id"
    )
    excluded = 0
    with pq.ParquetWriter(out / layout.EXCLUDED, kernel.EXCLUDED_SCHEMA, **kernel.WRITE_OPTIONS) as ex:
        reader = con.sql(q).to_arrow_reader(65_536)
        for batch in reader:
            tbl = pa.Table.from_batches([batch]).cast(kernel.EXCLUDED_SCHEMA)
            excluded += tbl.num_rows
            ex.write_table(tbl)
    by_reason = dict(
        con.execute(
            f"SELECT r, count(*) FROM (SELECT unnest(reasons) AS r FROM read_parquet('{out / layout.EXCLUDED}')) "
            "GROUP BY r ORDER BY r"
        ).fetchall()
    )

    q_src = staged / "quarantine.jsonl"
    if q_src.exists():
        shutil.copyfile(q_src, out / layout.QUARANTINE)
    else:
        (out / layout.QUARANTINE).write_bytes(b"")

    result = Finalized(shard_hashes, kernel.content_hash(shard_hashes), included, dropped,
                       excluded, by_reason, shard_rows)
    jobs_src, inter_src = staged / "jobs.parquet", staged / "job_interactions.parquet"
    if jobs_src.exists():
        result.jobs = _copy_sorted(con, f"SELECT * FROM read_parquet('{jobs_src}') ORDER BY job_id",
                                   out / layout.JOBS)
    if inter_src.exists():
        result.interactions = _copy_sorted(
            con,
            f"SELECT * FROM read_parquet('{inter_src}') WHERE member_id IN "
            f"(SELECT member_id FROM read_parquet('{out / layout.LINEAGE}')) "
            "ORDER BY member_id, job_id, \"at\", action",
            out / layout.INTERACTIONS,
        )
    con.close()
    return result


def _copy_sorted(con: duckdb.DuckDBPyConnection, query: str, dest: Path) -> int:
    reader = con.sql(query).to_arrow_reader(65_536)
    n = 0
    with pq.ParquetWriter(dest, reader.schema, **kernel.WRITE_OPTIONS) as w:
        for batch in reader:
            w.write_batch(batch)
            n += batch.num_rows
    return n
