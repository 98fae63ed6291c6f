"""Build one snapshot: stage → decide → redact → write → publish, atomically.

Everything is written into `root/<purpose>/.tmp-<uuid>/` and renamed to the next
version only once complete and fsynced, so a crash at any point leaves nothing
visible, and the next build sweeps the leftovers. The builder refuses to publish a
snapshot that loses an item: every staged item must be in data or excluded.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consentry.snapshots import finalize as fin
from consentry.snapshots import inputs as inp
from consentry.snapshots import kernel, keys, layout, provenance
from consentry.snapshots.manifest import Manifest

Progress = Callable[[str, int, int | None], None]


class BuildError(RuntimeError):
    """A build that would break an invariant; nothing was published."""


def _as_utc(t: Any) -> dt.datetime:
    from consentry.policy.packs import as_utc

    return as_utc(t)


def _load_pack(pack: Any) -> Any:
    if isinstance(pack, (str, Path)):
        from consentry.policy.packs import load_pack

        return load_pack(pack)
    return pack


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def build_snapshot(*args: Any, **kw: Any) -> Manifest:
    """Build and publish a snapshot (`_build_snapshot`, same arguments), reported as an
    OpenLineage run: the export and the ledger in, the snapshot's data out, versioned by
    its content hash."""
    from consentry import openlineage_events as ol

    a = inspect.signature(_build_snapshot).bind(*args, **kw).arguments
    ledger = a.get("ledger")
    inputs = [ol.DatasetRef.path(a["network_dir"])] + ([ol.DatasetRef.ledger(ledger.url)] if ledger is not None else [])
    with ol.run(f"snapshot.build.{a['purpose']}", inputs) as run:
        manifest = _build_snapshot(*args, **kw)
        data = Path(a["root"]) / a["purpose"] / manifest.version / layout.DATA
        run.output(ol.DatasetRef.parquet(data, version=manifest.content_hash))
        return manifest


def _build_snapshot(
    network_dir: str | Path,
    pack: Any,
    purpose: str,
    as_of: Any,
    root: str | Path,
    engine: str = "duckdb",
    shards: int | None = None,
    workers: int | None = None,
    ledger: Any = None,
    *,
    memory_limit: str = "1500MB",
    batch_rows: int = 4096,
    progress: Progress | None = None,
    spark: Any = None,
) -> Manifest:
    """Build and publish a snapshot of `purpose` under `pack` as of `as_of`; returns its manifest.

    `shards` defaults to the pack version's; `workers` to all cores. With a `ledger`,
    its events, requests and notices count as much as the export's.
    """
    started = time.perf_counter()
    root = Path(root)
    pack_obj = _load_pack(pack)
    as_of_t = _as_utc(as_of)
    pv = pack_obj.version_at(as_of_t)
    n_shards = int(shards or getattr(pv, "shards", None) or kernel.DEFAULT_SHARDS)
    n_workers = int(workers or default_workers())
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"unknown engine {engine!r}: duckdb or spark")
    purpose_dir = root / purpose
    timings: dict[str, float] = {}
    with layout.purpose_lock(purpose_dir):
        layout.clean_stale(purpose_dir)
        version = layout.next_version(purpose_dir)
        tmp = layout.new_tmp(purpose_dir)
        work = tmp / "_work"
        work.mkdir()
        try:
            t = time.perf_counter()
            inputs = inp.stage(Path(network_dir), work / "staged")
            inputs = inp.merge_ledger(inputs, ledger, work / "ledger")
            timings["stage_s"] = time.perf_counter() - t
            if progress:
                progress("staged", 1, 1)
            key = keys.load(root)
            redactor = inp.make_redactor(inputs, pv, key, ledger)
            kwargs = dict(shards=n_shards, workers=n_workers, redactor=redactor, progress=progress)
            if engine == "duckdb":
                from consentry.snapshots import duckdb_engine

                res = duckdb_engine.run(inputs, pack_obj, purpose, as_of_t, work,
                                        memory_limit=memory_limit, batch_rows=batch_rows, **kwargs)
            else:
                from consentry.snapshots import spark_engine

                res = spark_engine.run(inputs, pack_obj, purpose, as_of_t, work, spark=spark, **kwargs)
            timings.update(res.timings)
            t = time.perf_counter()
            done = 0

            def _fin_progress(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress("write", done, res.allowed)

            pack_ref = f"{pack_obj.name}@{pv.version}" if getattr(pv, "version", None) else pack_obj.name

            def _file_meta(shard: int) -> dict[str, str]:
                return kernel.file_metadata(f"{purpose}/{version}", pack_ref, as_of_t.isoformat(), shard)

            out = fin.finalize(work, tmp, n_shards, inputs.staged, memory_limit=memory_limit,
                               progress=_fin_progress, file_meta=_file_meta)
            timings["write_s"] = time.perf_counter() - t
            if out.included + out.excluded != res.input_items:
                raise BuildError(
                    f"{purpose}: {res.input_items} staged items but {out.included} in data and "
                    f"{out.excluded} excluded: refusing to publish"
                )
            q_items = inputs.quarantined_by_table.get("items", 0)
            given = inputs.input_rows.get("items")
            if given is not None and given != out.included + out.excluded + q_items:
                raise BuildError(
                    f"{purpose}: {given} input items but {out.included} in data, {out.excluded} "
                    f"excluded and {q_items} quarantined: refusing to publish"
                )
            shutil.rmtree(work)
            timings["total_s"] = time.perf_counter() - started
            manifest = Manifest(
                purpose=purpose,
                version=version,
                pack=pack_obj.name,
                pack_version=getattr(pv, "version", None),
                propagation=str(getattr(pv, "propagation", "")) or None,
                as_of=as_of_t,
                engine=engine,
                shards=n_shards,
                created_at=dt.datetime.now(dt.UTC),
                inputs={"network": str(Path(network_dir).resolve()), "fingerprint": inputs.fingerprint,
                        "watermarks": inputs.watermarks},
                ledger_position=inputs.ledger_position,
                counts={
                    "input_items": res.input_items + q_items,
                    "staged_items": res.input_items,
                    "allowed_by_policy": res.allowed,
                    "included": out.included,
                    "excluded": out.excluded,
                    "dropped_by_redaction": out.dropped,
                    "quarantined_items": q_items,
                    "quarantined_rows": inputs.quarantined,
                    "by_reason": out.by_reason,
                    "by_region_group": res.by_region_group,
                    "by_shard": out.shard_rows,
                    "interactions": out.interactions,
                    "jobs": out.jobs,
                },
                shard_hashes=out.shard_hashes,
                content_hash=out.content_hash,
                timings={k: round(v, 3) for k, v in timings.items()},
                provenance=provenance.collect(key),
            )
            manifest.write(tmp)
            layout.publish(tmp, purpose_dir, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed build leaves nothing behind
            raise
        return manifest
