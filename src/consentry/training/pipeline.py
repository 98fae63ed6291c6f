"""Train, retrain and load model versions: SISA engine + trainer + registry.

`train_version` trains every shard of a snapshot and registers a version;
`retrain_version` re-reads the (rewritten) snapshot, retrains only the shards whose
data hash changed, resuming from their last clean checkpoint, and registers the
result as a child of the old version. Both are what the CLI, `forgetting.models`
and the demo call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from rich.progress import Progress

from consentry.snapshots.provenance import for_model_version
from consentry.training import sisa
from consentry.training.data import SnapshotRef
from consentry.training.registry import Registry

DEFAULT_SEED = 1234
DEFAULT_SLICES = 4


def make_trainer(kind: str, config: dict | None = None, **kw: Any):
    """A trainer from its registry config (so retraining uses exactly the same one)."""
    if kind == "assistant":
        from consentry.training.assistant import AssistantConfig, AssistantTrainer

        return AssistantTrainer(AssistantConfig.from_dict(config))
    if kind == "matcher":
        from consentry.training.matcher import MatcherConfig, MatcherTrainer

        cfg = {k: v for k, v in (config or {}).items() if k != "model"}
        return MatcherTrainer(MatcherConfig(**cfg), **kw)
    raise ValueError(f"unknown model kind {kind!r} (assistant | matcher)")


class ShardDataError(ValueError):
    """A shard has too few items to train on; names the shard and the fix."""


def _one_shard(args: tuple) -> dict:
    trainer, records, shard, seed, n_slices, ckpt_dir, slice_size, queue = args
    if queue is not None and hasattr(trainer, "on_step"):
        trainer.on_step = lambda n, loss: queue.put((shard, n, loss))
    try:
        return sisa.train_shard(trainer, records, shard=shard, seed=seed, n_slices=n_slices, ckpt_dir=ckpt_dir,
                                slice_size=slice_size).to_dict()
    finally:
        if hasattr(trainer, "on_step"):
            trainer.on_step = None


def _total_steps(trainer: Any, records: list, n_slices: int, slice_size: int | None) -> int | None:
    """Optimizer steps a shard will take from scratch (the progress bar's length)."""
    if not hasattr(trainer, "steps"):
        return None
    slices, _ = sisa.make_slices(records, n_slices, slice_size)
    seen, total = 0, 0
    for sl in slices:
        seen += len(sl)
        total += trainer.steps(seen)
    return total


class _Direct:
    """In-process stand-in for the workers' queue: updates the bar at once."""

    def __init__(self, update: Callable[[tuple], None]) -> None:
        self.update = update

    def put(self, item: tuple) -> None:
        self.update(item)


def _run_shards(kind: str, jobs: list[tuple], *, progress: bool, workers: int = 1) -> tuple[list[dict], dict]:
    """Train the given shards, one progress bar per shard with its last loss; with workers > 1, in processes.

    Each process still runs one deterministic thread, so the weights are the same
    whatever the number of workers (shards are independent by construction).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    results: list[dict] = []
    t_all = time.perf_counter()
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn())
    with Progress(*cols, disable=not progress, transient=False) as bar:
        tasks = {job[2]: bar.add_task(f"{kind} shard {job[2]:>2}", total=_total_steps(job[0], job[1], job[4], job[6]),
                                      loss="") for job in jobs}

        def update(item: tuple) -> None:
            shard, n, loss = item
            bar.update(tasks[shard], advance=n, loss=f"loss {loss:.3f}")

        def finish(res: dict) -> None:
            t = tasks[res["shard"]]
            bar.update(t, completed=bar.tasks[t].total or 1, total=bar.tasks[t].total or 1)
            results.append(res)

        if workers > 1 and len(jobs) > 1:
            import multiprocessing as mp
            import queue as queue_mod
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
            from concurrent.futures.process import BrokenProcessPool

            ctx = mp.get_context("spawn")
            try:
                with ctx.Manager() as manager, ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as ex:
                    q = manager.Queue()
                    pending = {ex.submit(_one_shard, (*job, q)) for job in jobs}
                    while pending:
                        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                        while True:
                            try:
                                update(q.get_nowait())
                            except queue_mod.Empty:
                                break
                        for f in done:
                            finish(f.result())
            except (BrokenProcessPool, RuntimeError, EOFError, OSError):
                # e.g. a caller script without a __main__ guard cannot spawn: train serially
                # (same weights; finished shards are reused from their checkpoints)
                results, workers = [], 1
        if workers <= 1 or len(jobs) <= 1:
            direct = _Direct(update)
            for job in jobs:
                finish(_one_shard((*job, direct)))
    results.sort(key=lambda r: r["shard"])
    return results, {"train_seconds": round(time.perf_counter() - t_all, 3), "workers": workers}


def train_version(kind: str, snapshot_dir: Path | str, models_dir: Path | str, **kw: Any) -> dict:
    """Train and register a version (`_train_version`, same arguments), reported as an
    OpenLineage run: the snapshot's data in (versioned by its content hash), the
    version's checkpoints out. A snapshot with an unfinished forget is refused."""
    from consentry import openlineage_events as ol
    from consentry.snapshots.layout import require_whole

    snap = Path(snapshot_dir)
    require_whole(snap)
    content_hash = SnapshotRef.from_path(snap).manifest().get("content_hash")
    with ol.run(f"train.{kind}", [ol.DatasetRef.parquet(snap / "data", version=content_hash)]) as run:
        v = _train_version(kind, snapshot_dir, models_dir, **kw)
        if v.get("version"):
            run.output(ol.DatasetRef.path(Registry(models_dir).root / "checkpoints" / kind, version=v["version"]))
        return v


def _train_version(
    kind: str,
    snapshot_dir: Path | str,
    models_dir: Path | str,
    *,
    config: dict | None = None,
    seed: int = DEFAULT_SEED,
    n_slices: int = DEFAULT_SLICES,
    progress: bool = True,
    evaluate: bool = True,
    trainer_kw: dict | None = None,
    supersede_previous: bool = True,
    workers: int = 1,
    only_shards: list[int] | None = None,
    allow_empty: bool = False,
) -> dict:
    """Train all shards from scratch (reusing identical checkpoints) and register a version.

    The newest live version of the same name becomes its parent and is superseded:
    one live assistant and one live matcher at a time, the ones `assist`/`match` serve.
    With `only_shards`, only those shards train (independent jobs for any scheduler);
    the version is registered once every shard's final checkpoint exists, otherwise
    the result is {"registered": False, "trained": [...], "missing": [...]}: nothing
    half trained is ever live. A shard with fewer trainable posts than slices is refused
    (ShardDataError) unless `allow_empty` and it has none: its adapter then stays at zero,
    which is the base itself (the demo's small networks).
    """
    snap = SnapshotRef.from_path(snapshot_dir)
    reg = Registry(models_dir)
    trainer = make_trainer(kind, config, **(trainer_kw or {}))
    ckpt_dir = reg.root / "checkpoints" / kind
    t0 = time.perf_counter()
    base_seconds = _setup(trainer, ckpt_dir, seed, progress)
    prepared = sorted(trainer.prepare(snap.path).items())
    for shard, recs in prepared if kind == "assistant" else ():
        if len(recs) < n_slices and not (allow_empty and not recs):
            raise ShardDataError(f"{snap.path}/data/shard={shard:02d}: {len(recs)} trainable item(s), fewer than the "
                                 f"{n_slices} slices; train with fewer slices (--slices) or build the snapshot with fewer shards")
    if only_shards is not None:
        unknown = sorted(set(only_shards) - {s for s, _ in prepared})
        if unknown:
            raise ShardDataError(f"{snap.path}: no shard {unknown[0]} (shards: {', '.join(str(s) for s, _ in prepared)})")
        todo = [(s, r) for s, r in prepared if s in only_shards]
        done, _ = _run_shards(kind, [(trainer, r, s, seed, n_slices, ckpt_dir, None) for s, r in todo],
                              progress=progress, workers=workers)
        missing = [s for s, r in prepared if s not in only_shards and not _final_exists(trainer, r, s, seed, n_slices, ckpt_dir)]
        if missing:
            return {"registered": False, "trained": [d["shard"] for d in done], "missing": missing}
    jobs = [(trainer, recs, shard, seed, n_slices, ckpt_dir, None) for shard, recs in prepared]
    shards, timings = _run_shards(kind, jobs, progress=progress and only_shards is None, workers=workers)
    if getattr(trainer, "base", None):
        timings["base_seconds"] = base_seconds
    timings["total_seconds"] = round(time.perf_counter() - t0, 3)
    entry = _entry(kind, trainer, snap, seed, n_slices, shards, timings)
    if evaluate:
        entry["metrics"] = trainer.evaluate([ckpt_dir / s["slices"][-1]["checkpoint"] for s in shards], snap.path)
    prev = reg.latest_live(kind) if supersede_previous else None
    return reg.register(entry, supersede=prev["version"] if prev else None)


def _final_exists(trainer: Any, records: list, shard: int, seed: int, n_slices: int, ckpt_dir: Path) -> bool:
    slices, _ = sisa.make_slices(records, n_slices)
    _, chain = sisa.chain_hashes(slices, sisa.sha256(sisa.config_hash(trainer), str(seed), str(shard)))
    return (ckpt_dir / f"{chain[-1]}.pt").exists()


def retrain_version(
    version: dict,
    models_dir: Path | str,
    *,
    progress: bool = False,
    evaluate: bool = True,
    trainer_kw: dict | None = None,
    extra: dict | None = None,
    workers: int | None = None,
) -> dict | None:
    """Retrain the shards of `version` whose data changed on disk; None when nothing did.

    The new version inherits seed, slice count, per-shard slice size and config, so
    each retrained shard equals a from-scratch training on its remaining data. It
    trains on as many workers as the version was trained with (unless `workers` says
    otherwise), so retrain and full-train seconds compare like for like.
    """
    reg = Registry(models_dir)
    snap = SnapshotRef.from_path(version["snapshot"]["path"])
    trainer = make_trainer(version["kind"], version["config"], **(trainer_kw or {}))
    ckpt_dir = reg.root / "checkpoints" / version["kind"]
    t0 = time.perf_counter()
    base_seed, n_slices = version["seed"], version["n_slices"]
    _setup(trainer, ckpt_dir, base_seed, progress, version.get("base"))  # the same base: it holds no member data
    shard_records = trainer.prepare(snap.path)
    previous = {s["shard"]: s for s in version["shards"]}
    changed = []
    for shard, records in sorted(shard_records.items()):
        prev = previous.get(shard)
        if prev is None:
            changed.append(shard)
            continue
        slices, _ = sisa.make_slices(records, n_slices, prev["slice_size"])
        base = sisa.sha256(sisa.config_hash(trainer), str(base_seed), str(shard))
        _, chain = sisa.chain_hashes(slices, base)
        if chain[-1] != prev["data_hash"]:
            changed.append(shard)
    gone = set(previous) - set(shard_records)
    if not changed and not gone:
        return None
    jobs = [(trainer, records, shard, base_seed, n_slices, ckpt_dir,
             previous[shard]["slice_size"] if shard in previous else None)
            for shard, records in sorted(shard_records.items()) if shard in changed]
    workers = workers or int(version.get("timings", {}).get("workers", 1))
    retrained, run = _run_shards(version["kind"], jobs, progress=progress, workers=workers)
    by_shard = {r["shard"]: r for r in retrained}
    shards = [by_shard.get(shard) or previous[shard] for shard in sorted(shard_records)]
    timings = {
        "retrained_shards": changed,
        "retrain_seconds": run["train_seconds"],
        "workers": run["workers"],
        "total_seconds": round(time.perf_counter() - t0, 3),
        "full_train_seconds": full_train_seconds(version),
    }
    entry = _entry(version["kind"], trainer, snap, base_seed, n_slices, shards, timings)
    entry["name"] = version["name"]
    entry.update(extra or {})
    if evaluate:
        entry["metrics"] = trainer.evaluate([ckpt_dir / s["slices"][-1]["checkpoint"] for s in shards], snap.path)
    return reg.register(entry, supersede=version["version"])


def _setup(trainer: Any, ckpt_dir: Path, seed: int, progress: bool, base: dict | None = None) -> float:
    """Seconds the trainer's optional `setup` (the assistant's frozen base) took.

    `base`: the registry's record of it; a base file with another hash is refused.
    """
    setup = getattr(trainer, "setup", None)
    if not setup:
        return 0.0
    return setup(ckpt_dir, seed=seed, progress=progress, expected_sha256=(base or {}).get("sha256"))


def full_train_seconds(version: dict) -> float | None:
    """What training every shard of this model took, carried along retrained versions."""
    t = version.get("timings", {})
    return t.get("train_seconds") or t.get("full_train_seconds")


def _entry(kind: str, trainer: Any, snap: SnapshotRef, seed: int, n_slices: int, shards: list[dict], timings: dict) -> dict:
    man = snap.manifest()
    return {
        "name": kind,
        "kind": kind,
        "config": trainer.config(),
        "config_hash": sisa.config_hash(trainer),
        "seed": seed,
        "n_slices": n_slices,
        "snapshot": {
            "purpose": snap.purpose,
            "version": snap.version,
            "path": str(snap.path),
            "content_hash": man.get("content_hash"),
        },
        "base": getattr(trainer, "base", None),
        "provenance": for_model_version(man),
        "shards": shards,
        "timings": timings,
        "metrics": {},
    }


def checkpoint_paths(version: dict, models_dir: Path | str) -> list[Path]:
    reg = Registry(models_dir)
    return [reg.checkpoint_path(version, s["slices"][-1]["checkpoint"]) for s in version["shards"] if s["slices"]]


def load_assistant(models_dir: Path | str, version: str | None = None, aggregation: str | None = None):
    """The live (or named) writing assistant: its shard adapters over the base, aggregated.

    The base must be the file the version was trained on (same sha256), else BaseModelError.
    """
    from consentry.training.assistant import AssistantConfig, Ensemble

    reg = Registry(models_dir)
    v = reg.get(version) if version else reg.latest_live("assistant")
    if v is None:
        raise LookupError(f"no live assistant in {reg.file}; run `consentry train assistant`")
    return Ensemble.from_checkpoints(AssistantConfig.from_dict(v["config"]), checkpoint_paths(v, models_dir),
                                     None, (v.get("base") or {}).get("sha256"), aggregation)


Evaluate = Callable[[list[Path], Path], dict]
