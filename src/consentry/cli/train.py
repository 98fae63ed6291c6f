"""`consentry train|assist|match|models`: thin commands over `consentry.training`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from consentry.cli import params, tables
from consentry.errors import NotFound, OptionError, UserError
from consentry.settings import Settings

train_app = typer.Typer(help="Train the SISA-sharded models on a snapshot.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: versions, lineage, metrics.", no_args_is_help=True)
console = Console()

DEFAULT_PURPOSE = {"assistant": "genai_training", "matcher": "ml_personalization"}


def _snapshot(kind: str, purpose: str | None, version: str | None) -> Path:
    from consentry.training.data import latest_snapshot

    s = Settings()
    purpose = purpose or DEFAULT_PURPOSE[kind]
    path = (s.snapshots / purpose / version) if version else latest_snapshot(s.snapshots, purpose)
    if path is None or not (path / "data").is_dir():
        raise NotFound(f"no snapshot {purpose}/{version or '<latest>'} under {s.snapshots}; "
                       "run `consentry snapshot build` first")
    return path


def _train(kind: str, purpose: str | None, version: str | None, slices: int, seed: int, config: str | None,
           shard: int | None = None, workers: int = 1) -> None:
    from consentry.training.base import BaseModelError
    from consentry.training.pipeline import ShardDataError, train_version

    snap = _snapshot(kind, purpose, version)
    try:
        cfg = json.loads(config) if config else None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--config") from exc
    kw = {"cache_dir": Settings().models / "embeddings"} if kind == "matcher" else None
    try:
        v = train_version(kind, snap, Settings().models, config=cfg, seed=seed, n_slices=slices, trainer_kw=kw,
                          workers=workers, only_shards=None if shard is None else [shard])
    except (BaseModelError, ShardDataError) as exc:
        raise UserError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # unknown or invalid --config keys
        raise OptionError("--config", config, str(exc)) from None
    if v.get("registered") is False:
        console.print(f"trained shard(s) {v['trained']}; not registered yet: shard(s) {v['missing']} still to train "
                      "(the version is registered when the last shard is done)")
        return
    console.print(f"[green]{v['version']}[/] trained on {v['snapshot']['purpose']}/{v['snapshot']['version']}: "
                  f"{len(v['shards'])} shards x {slices} slices in {v['timings']['total_seconds']} s")
    console.print(json.dumps(v["metrics"], indent=1))


@train_app.command("assistant")
def train_assistant(
    purpose: Optional[params.Purpose] = typer.Option(None, "--purpose", help="snapshot purpose (default genai_training)",
                                          callback=params.plain),
    version: Optional[str] = typer.Option(None, "--version", help="snapshot version (default: latest)"),
    slices: int = typer.Option(4, "--slices", min=1),
    seed: int = typer.Option(1234, "--seed"),
    shard: Optional[int] = typer.Option(None, "--shard", min=0,
                                        help="train only this shard (one job per shard on any scheduler); the version "
                                             "is registered when every shard is trained"),
    workers: int = typer.Option(2, "--workers", min=1, help="shards trained side by side (processes, one thread each)"),
    config: Optional[str] = typer.Option(
        None, "--config",
        help='JSON overrides of the adapters, e.g. {"lora_r": 16, "max_items_per_shard": 200, '
             '"aggregation": "distributions"}'),
) -> None:
    """Train the writing assistant: one LoRA adapter per snapshot shard on SmolLM2-135M-Instruct."""
    _train("assistant", purpose, version, slices, seed, config, shard, workers)


@train_app.command("matcher")
def train_matcher(
    purpose: Optional[params.Purpose] = typer.Option(None, "--purpose", help="snapshot purpose (default ml_personalization)",
                                          callback=params.plain),
    version: Optional[str] = typer.Option(None, "--version", help="snapshot version (default: latest)"),
    slices: int = typer.Option(4, "--slices", min=1),
    seed: int = typer.Option(1234, "--seed"),
    config: Optional[str] = typer.Option(None, "--config", help='JSON overrides, e.g. {"encoder": "hashed-bow"}'),
) -> None:
    """Train the job matcher: one ranking head per snapshot shard over MiniLM embeddings."""
    _train("matcher", purpose, version, slices, seed, config)


def assist(
    prompt: str = typer.Argument(..., help="the start of a post"),
    model: Optional[str] = typer.Option(None, "--model", help="registry version (default: live assistant)"),
    seed: int = typer.Option(0, "--seed"),
    length: int = typer.Option(60, "--length", min=1, help="max new tokens"),
) -> None:
    """Draft a post with the live writing assistant; names of people are masked before it is shown."""
    from consentry.training.base import BaseModelError
    from consentry.training.pipeline import load_assistant
    from consentry.training.safety import draft_redactor, filter_draft

    s = Settings()
    try:
        ens = load_assistant(s.models, model)
    except (LookupError, FileNotFoundError) as exc:
        raise NotFound(exc.args[0] if exc.args else str(exc)) from None
    except BaseModelError as exc:
        raise UserError(str(exc)) from None
    text, n = filter_draft(draft_redactor(s), prompt, ens.generate(prompt, max_new=length, seed=seed))
    print(text)
    typer.echo(f"output filter: {n} span(s) of personal data replaced", err=True)


def match(
    member: str = typer.Option(..., "--member", help="member id"),
    k: int = typer.Option(10, "-k", min=1, help="how many job posts"),
    model: Optional[str] = typer.Option(None, "--model", help="registry version (default: live matcher)"),
) -> None:
    """The best job posts for a member, with ensemble scores."""
    from consentry.training.pipeline import checkpoint_paths, make_trainer
    from consentry.training.registry import Registry

    s = Settings()
    reg = Registry(s.models)
    v = reg.get(model) if model else reg.latest_live("matcher")
    if v is None:
        raise NotFound("no live matcher; run `consentry train matcher`")
    from consentry.training.matcher import recommend

    tr = make_trainer("matcher", v["config"], cache_dir=s.models / "embeddings")
    try:
        top = recommend(tr, checkpoint_paths(v, s.models), Path(v["snapshot"]["path"]), member, k)
    except KeyError as exc:
        raise NotFound(exc.args[0]) from None
    titles = dict(zip(tr.data.job_ids, _titles(Path(v["snapshot"]["path"]), tr.data.job_ids)))
    t = Table("job_id", "title", "score", title=f"{v['version']} for {member}")
    for j, sc in top:
        t.add_row(j, titles.get(j, ""), f"{sc:.3f}")
    console.print(t)


def _titles(snap: Path, ids: list[str]) -> list[str]:
    from consentry.training.data import read_optional

    jobs = read_optional(snap, "jobs")
    m = dict(zip(jobs["job_id"].to_pylist(), jobs["title"].to_pylist())) if jobs is not None else {}
    return [m.get(i, "") for i in ids]


@models_app.command("list")
def models_list(wide: bool = tables.WideOpt) -> None:
    """Every model version with its snapshot, status and headline metric (--wide: parent, created_at)."""
    from consentry.training.registry import Registry

    t = tables.listing()
    for col in ("version", "status", "snapshot"):
        tables.key_column(t, col)
    tables.key_column(t, "shards", justify="right")
    tables.key_column(t, "metric")
    if wide:
        for col in ("parent", "created_at"):
            tables.key_column(t, col)
    for v in Registry(Settings().models).versions():
        m = v.get("metrics") or {}
        metric = f"ppl {m['perplexity']}" if m.get("perplexity") else (f"R@10 {m.get('recall@10')}" if "recall@10" in m else "")
        t.add_row(v["version"], v["status"], f"{v['snapshot']['purpose']}/{v['snapshot']['version']}", str(len(v["shards"])),
                  metric, *([v.get("parent") or "", v["created_at"][:19]] if wide else []))
    console.print(t)


@models_app.command("show")
def models_show(version: str = typer.Argument(...), lineage: bool = typer.Option(False, "--lineage", help="include item ids")) -> None:
    """One version as JSON (per-shard item lineage only with --lineage)."""
    from consentry.training.registry import Registry

    v = Registry(Settings().models).get(version)  # a RegistryError names the version: one line
    if not lineage:
        v = {**v, "shards": [{k: x for k, x in s.items() if k not in ("items", "item_members", "content_hashes")} | {"items": len(s["items"])} for s in v["shards"]]}
    print(json.dumps(v, indent=1))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.add_typer(models_app, name="models")
    app.command("assist")(assist)
    app.command("match")(match)
