"""The cluster engine: Spark SQL runs the same decision plan, `mapInArrow` the same kernel.

Only the engine differs: the plan comes from `policy.plan.decisions_sql(...,
dialect="spark")`, redaction, shard and content hash come from
`kernel.process_batch` (the function the DuckDB engine runs), and the work files
are finalised by the same code. So the content hash is the same on both engines.
On a cluster the work directory must be on a filesystem every executor can write
(see docs/spark.md).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from consentry.network.schema import TABLES
from consentry.snapshots import kernel
from consentry.snapshots.duckdb_engine import EngineResult
from consentry.snapshots.inputs import Inputs
from consentry.snapshots.verdicts import verdict_sql


def session(master: str | None = None, app_name: str = "consentry-snapshot") -> Any:
    """A SparkSession with the settings the engine relies on (UTC, micros, Arrow).

    Local mode (`local[2]`) unless `master` or SPARK_MASTER says otherwise; the
    Python workers run this very interpreter (PYSPARK_PYTHON), so they import the
    same consentry and pyarrow.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    master = master or os.environ.get("SPARK_MASTER")
    # Under spark-submit (PYSPARK_GATEWAY_PORT is set) the cluster's master wins.
    if master or not os.environ.get("PYSPARK_GATEWAY_PORT"):
        builder = builder.master(master or "local[2]")
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": os.environ.get("CONSENTRY_SPARK_PARTITIONS", "4"),
        "spark.ui.enabled": "false",
        "spark.driver.memory": os.environ.get("CONSENTRY_SPARK_DRIVER_MEMORY", "1g"),
        "spark.sql.ansi.enabled": "false",
        "spark.python.worker.reuse": "true",
    }
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _register(spark: Any, inputs: Inputs) -> None:
    """A temp view per export table; absent optional tables are empty with the contract schema."""
    for name, schema in TABLES.items():
        path = inputs.tables.get(name)
        if path is not None:
            df = spark.read.parquet(str(path))
        else:
            df = spark.createDataFrame(schema.empty_table())
        df.createOrReplaceTempView(name)
    from consentry.policy.jurisdiction import resolve_ips

    ips = [r[0] for r in spark.sql("SELECT DISTINCT trim(ip) FROM signins WHERE ip IS NOT NULL").collect()]
    geo = resolve_ips(pa.array(sorted(ips), pa.string()))
    spark.createDataFrame(geo).createOrReplaceTempView("ip_geo")


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
    spark: Any = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> EngineResult:
    """Decide with Spark SQL, redact with `mapInArrow`, spill by shard into `work/`."""
    from consentry.policy import plan, requirements

    requirements.check(requirements.missing_from(inputs.tables), pack, purpose, as_of)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    spark = spark or session()
    _register(spark, inputs)
    sql = plan.decisions_sql(pack, purpose, as_of, dialect="spark")
    verdicts = spark.sql(verdict_sql(sql, "spark")).persist()
    verdicts.createOrReplaceTempView("verdicts")
    counts = spark.sql(
        "SELECT region_group, CASE WHEN allowed THEN 'allowed' ELSE 'excluded' END AS verdict, "
        "count(*) AS n FROM verdicts GROUP BY 1, 2"
    ).collect()
    groups: dict[str, dict[str, int]] = {}
    for r in sorted(counts, key=lambda r: (r[0], r[1])):
        groups.setdefault(r[0], {})[r[1]] = int(r[2])
    input_items = sum(n for g in groups.values() for n in g.values())
    allowed = sum(g.get("allowed", 0) for g in groups.values())
    spark.sql("SELECT item_id, member_id, reasons FROM verdicts WHERE NOT allowed").write.mode(
        "overwrite"
    ).parquet(str(work / "policy_excluded"))
    timings["decide_s"] = time.perf_counter() - t0
    if progress:
        progress("decided", input_items, input_items)

    t1 = time.perf_counter()
    allowed_df = spark.sql(
        "SELECT v.item_id, v.member_id, i.kind, i.created_at, i.text "
        "FROM verdicts v JOIN items i ON v.item_id = i.item_id WHERE v.allowed"
    )
    bc = spark.sparkContext.broadcast(redactor)
    n_shards = shards

    def redact(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        r = bc.value
        for b in batches:
            yield kernel.process_batch(r, n_shards, b)

    allowed_df.mapInArrow(redact, kernel.WORK_SPARK_DDL).write.mode("overwrite").partitionBy(
        "shard"
    ).parquet(str(work / "redacted"))
    verdicts.unpersist()
    bc.destroy()
    timings["redact_s"] = time.perf_counter() - t1
    if progress:
        progress("redact", allowed, allowed)
    return EngineResult(input_items, allowed, groups, timings)
