"""`consentry snapshot build|list|show|diff|verify-erasure`: thin commands over `consentry.snapshots`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from consentry.cli import params, tables

if TYPE_CHECKING:
    from consentry.ledger.store import Ledger
    from consentry.settings import Settings

snapshot_app = typer.Typer(help="Versioned, redacted training snapshots with lineage.", no_args_is_help=True)
console = Console()


def _root(root: Path | None) -> Path:
    from consentry.settings import get_settings

    return root or get_settings().snapshots


@snapshot_app.command()
def build(
    purpose: params.Purpose = typer.Option(..., "--purpose", help="what the snapshot is for", callback=params.plain),
    pack: str = typer.Option(..., "--pack", help="policy pack name or YAML path", callback=params.pack),
    as_of: str = typer.Option(..., "--as-of", help="decision time T (ISO 8601, UTC)", callback=params.as_of),
    network: Path = typer.Option(None, "--network", help="export directory (default: $CONSENTRY_HOME/network)",
                                 callback=params.export_dir),
    engine: params.Engine = typer.Option("duckdb", "--engine", help="the engine that runs the decision plan"),
    shards: int = typer.Option(None, "--shards", min=1, help="number of shards (default: the pack's)"),
    workers: int = typer.Option(None, "--workers", min=1, help="redaction processes (default: all cores)"),
    root: Path = typer.Option(None, "--root", help="snapshots directory (default: $CONSENTRY_HOME/snapshots)"),
    no_ledger: bool = typer.Option(False, "--no-ledger", help="decide from the export alone"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Build a snapshot: decide, redact, write sharded Parquet, publish atomically."""
    from consentry.settings import get_settings
    from consentry.snapshots.build import build_snapshot

    settings = get_settings()
    network = network or settings.network
    if not network.exists():
        raise typer.BadParameter(f"{network}: no such export directory", param_hint="--network")
    ledger = None
    if not no_ledger:
        from consentry.ledger.store import Ledger

        if settings.ledger_url or (settings.home / "ledger.sqlite").exists():
            ledger = Ledger(settings.ledger)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=quiet, transient=True) as prog:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = prog.add_task(phase, total=total)
            prog.update(tasks[phase], completed=done, total=total)

        m = build_snapshot(network, pack, purpose, as_of, _root(root), engine=engine, shards=shards,
                           workers=workers, ledger=ledger, progress=progress)
    _summary(m)


def _summary(m) -> None:  # noqa: ANN001 - a Manifest
    c = m.counts
    t = Table(title=f"snapshot {m.purpose}/{m.version} ({m.pack_ref}, as of {m.as_of:%Y-%m-%d %H:%M}, {m.engine})")
    t.add_column("")
    t.add_column("items", justify="right")
    for k in ("input_items", "allowed_by_policy", "included", "excluded", "dropped_by_redaction",
              "quarantined_items", "forgotten"):
        if k in c and c[k] is not None:
            t.add_row(k, f"{c[k]:,}")
    for reason, n in sorted(c.get("by_reason", {}).items(), key=lambda kv: -kv[1]):
        t.add_row(f"  excluded: {reason}", f"{n:,}")
    for group, v in sorted(c.get("by_region_group", {}).items()):
        t.add_row(f"  region {group}", f"{v.get('allowed', 0):,} allowed / {v.get('excluded', 0):,} excluded")
    console.print(t)
    total = m.timings.get("total_s") or 0
    rate = f", {c.get('input_items', 0) / total:,.0f} items/s" if total else ""
    console.print(f"shards {m.shards}, content hash {m.content_hash}{rate}, timings {m.timings}")


@snapshot_app.command("list")
def list_(
    purpose: params.Purpose = typer.Option(None, "--purpose", callback=params.plain),
    root: Path = typer.Option(None, "--root", callback=params.existing_dir),
    as_json: bool = typer.Option(False, "--json"),
    wide: bool = tables.WideOpt,
) -> None:
    """Published snapshots, oldest first (--wide: engine, excluded, forgotten, content hash)."""
    from consentry.snapshots.catalog import list_snapshots

    snaps = list_snapshots(_root(root), purpose)
    if as_json:
        typer.echo(json.dumps([{"snapshot": s.ref, "path": str(s.path), "unfinished_forget": s.unfinished_forget,
                   **s.manifest.model_dump(mode="json",
                   include={"pack", "pack_version", "as_of", "engine", "content_hash", "counts"})}
                   for s in snaps], indent=2))
        return
    t = tables.listing()
    for col in ("snapshot", "pack", "as of"):
        tables.key_column(t, col)
    if wide:
        tables.key_column(t, "engine")
    tables.key_column(t, "included", justify="right")
    if wide:
        for col in ("excluded", "forgotten"):
            tables.key_column(t, col, justify="right")
        tables.key_column(t, "content hash")
    t.add_column("state")
    unfinished = []
    for s in snaps:
        m = s.manifest
        why = s.unfinished_forget
        if why:
            unfinished.append(why)
        c = m.counts
        row = [s.ref, m.pack_ref, f"{m.as_of:%Y-%m-%d}", *([m.engine] if wide else []), f"{c.get('included', 0):,}",
               *([f"{c.get('excluded', 0):,}", f"{c.get('forgotten', 0):,}", m.content_hash[:16]] if wide else []),
               "[red]FORGET UNFINISHED[/red]" if why else "ok"]
        t.add_row(*row)
    console.print(t)
    for why in unfinished:
        console.print(f"[red]{why}[/red]; run consentry forget --resume (or --pending)", soft_wrap=True)


@snapshot_app.command()
def show(
    ref: str = typer.Argument(..., help="purpose/version, purpose (newest) or a snapshot path"),
    root: Path = typer.Option(None, "--root", callback=params.existing_dir),
    as_json: bool = typer.Option(False, "--json", help="print the manifest as JSON"),
) -> None:
    """A snapshot's manifest: inputs, pack, counts, content hash, forget history."""
    from consentry.snapshots.catalog import resolve

    s = _resolve(resolve, root, ref)
    why = s.unfinished_forget
    if as_json:
        typer.echo(json.dumps({**s.manifest.model_dump(mode="json"), "unfinished_forget": why},
                              indent=2, sort_keys=True))
        return
    if why:
        console.print(f"[red]FORGET UNFINISHED: {why}[/red]; run consentry forget --resume (or --pending) "
                      "before reading this snapshot", soft_wrap=True)
    _summary(s.manifest)
    for e in s.manifest.forget_history:
        console.print(f"forget {e.run_id} at {e.at:%Y-%m-%d %H:%M}: -{e.items_removed} items of "
                      f"{e.members} member(s) {e.reasons}, shards {e.shards_rewritten}, "
                      f"{e.content_hash_before[:12]} -> {e.content_hash_after[:12]}")


def _resolve(fn, root: Path | None, ref: str):  # noqa: ANN001, ANN202
    try:
        return fn(_root(root), ref)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from None


@snapshot_app.command()
def diff(
    a: str = typer.Argument(..., help="older snapshot (purpose/version)"),
    b: str = typer.Argument(..., help="newer snapshot (purpose/version)"),
    root: Path = typer.Option(None, "--root", callback=params.existing_dir),
    show: int = typer.Option(20, "--show", min=0, help="removed items to list"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Items added and removed between two snapshots, with the reasons for removal."""
    from consentry.snapshots import catalog
    from consentry.snapshots.layout import UnfinishedForget

    try:
        d = catalog.diff(_resolve(catalog.resolve, root, a), _resolve(catalog.resolve, root, b))
    except UnfinishedForget as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"a": d.a, "b": d.b, "summary": d.summary,
                               "removed": d.removed.slice(0, show).to_pylist(),
                               "added": d.added.slice(0, show).to_pylist()}, indent=2))
        return
    console.print(f"{d.a} -> {d.b}: +{d.summary['added']:,} added, -{d.summary['removed']:,} removed, "
                  f"{d.summary['changed']:,} changed")
    t = Table(title="removed (first %d)" % show)
    for col in ("item_id", "member_id", "reasons"):
        t.add_column(col)
    for r in d.removed.slice(0, show).to_pylist():
        t.add_row(r["item_id"], r["member_id"], ", ".join(r["reasons"]))
    console.print(t)
    for k, v in d.summary.items():
        if k.startswith("removed:"):
            console.print(f"  {k[8:]}: {v:,}")


@snapshot_app.command("verify-erasure")
def verify_erasure(
    root: Path = typer.Option(None, "--root", help="snapshots directory (default: $CONSENTRY_HOME/snapshots)"),
    network: Path = typer.Option(None, "--network", help="export with the original texts (default: $CONSENTRY_HOME/network)"),
) -> None:
    """Prove that no erased item's id, hash or original text remains in any copy consentry keeps.

    Snapshots (every version), staged exports, caches, model lineage and checkpoints,
    and every other file under $CONSENTRY_HOME; exit 1 while a forget is unfinished
    or anything erased is found, 2 on bad options.
    """
    from consentry.forgetting.verify import verify_erasure as run
    from consentry.settings import get_settings

    settings = get_settings()
    if root is not None and not root.is_dir():
        _fail(f"--root {root}: no such snapshots directory")
    if network is not None and not network.is_dir():
        _fail(f"--network {network}: no such export directory")
    if network is not None:
        _require_items(network)
    network = network or settings.network
    from consentry.cli.progress import working

    with working("verify-erasure: checking every copy of the data under the home"):
        report = run(root or settings.snapshots, network if network.is_dir() else None, ledger=_ledger(settings),
                     home=settings.home, models_dir=settings.models, missing_ok=root is None)
    console.print(report.text())
    if not report.ok:
        raise typer.Exit(1)


def _require_items(network: Path) -> None:
    """An export given to verify-erasure must hold a readable items table: its original
    texts are what the sweep looks for, so without them "OK" would prove nothing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from consentry.network.reader import table_files

    files = table_files(network, "items") or sorted(network.glob("items*.parquet"))
    if not files:
        _fail(f"--network {network}: no items table (items.parquet, items.jsonl or items/); give the export "
              "that holds the original texts")
    for f in files:
        if f.suffix == ".parquet":
            try:
                pq.ParquetFile(f).close()
            except (pa.ArrowException, OSError) as exc:
                _fail(f"--network {f}: not a readable Parquet file ({str(exc).splitlines()[0]})")


def _fail(message: str) -> None:
    """One line on stderr, exit 2: a bad option is no verification result."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _ledger(settings: Settings) -> Ledger | None:
    """The ledger when there is one (never create an empty one just to read it)."""
    if not (settings.ledger_url or (settings.home / "ledger.sqlite").exists()):
        return None
    from consentry.ledger.store import Ledger

    return Ledger(settings.ledger)


def register(app: typer.Typer) -> None:
    app.add_typer(snapshot_app, name="snapshot")
