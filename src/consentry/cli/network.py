"""`consentry network generate|validate`: thin commands over `consentry.network`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from consentry.cli import params

network_app = typer.Typer(help="Platform exports: generate a synthetic network, validate an export.",
                          no_args_is_help=True)
console = Console()


@network_app.command()
def generate(
    members: int = typer.Option(1000, "--members", "-n", min=1, help="number of members (incl. ~3% non-members)"),
    seed: int = typer.Option(0, "--seed", help="random seed; same seed, same bytes"),
    out: Path = typer.Option(None, "--out", help="output directory (default: $CONSENTRY_HOME/network)"),
    fmt: params.NetworkFormat = typer.Option("parquet", "--format", help="file format of the tables"),
    occupations: Path = typer.Option(None, "--occupations", help="an ESCO occupations_en.csv (default: the copy shipped with consentry)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Generate a deterministic synthetic professional network with ground truth in truth/."""
    from consentry.network import synth
    from consentry.settings import get_settings

    out = out or get_settings().network
    if occupations is not None and not occupations.is_file():  # never a silent fallback to the default
        raise typer.BadParameter(f"{occupations} is not a file; give an ESCO occupations CSV",
                                 param_hint="--occupations")
    s = synth.generate(out, members=members, seed=seed, fmt=fmt, occupations_csv=occupations,
                       progress=not quiet)
    t = Table(title=f"synthetic network in {out}")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in s.counts.items():
        t.add_row(name, f"{n:,}")
    console.print(t)
    console.print(f"{s.counts.get('items', 0):,} items in {s.seconds:.1f}s "
                  f"({s.items_per_second:,.0f} items/s), {s.bytes_written / 1e6:,.1f} MB, "
                  f"occupations: {s.occupations}")


@network_app.command()
def validate(
    src: Path = typer.Argument(..., help="export directory (NAME.parquet / NAME.jsonl / NAME/)",
                               callback=params.export_dir),
    staged: Path = typer.Option(None, "--staged", help="write the staged export here (default: a temporary directory)"),
    show: int = typer.Option(10, "--show", min=0, help="quarantined rows to print"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Validate an export: counts per table, quarantined rows with file, row, field and error."""
    import tempfile

    from consentry.network import reader

    # An ExportError names the file and what is wrong: one line (consentry.cli.errors).
    if staged is None:
        with tempfile.TemporaryDirectory(prefix="consentry-validate-") as d:
            s = reader.stage_export(src, Path(d) / "staged", progress=not quiet)
            _report(s, show)
    else:
        s = reader.stage_export(src, staged, progress=not quiet)
        _report(s, show)
        console.print(f"staged to {staged} (fingerprint {s.fingerprint})")


def _report(s, show: int) -> None:
    t = Table(title="export validation")
    for c in ("table", "input rows", "clean", "quarantined", "files", "latest"):
        t.add_column(c, justify="right" if c not in ("table", "files", "latest") else "left")
    for name, wm in s.watermarks.items():
        t.add_row(name, f"{wm['rows']:,}", f"{wm['clean']:,}",
                  f"[red]{wm['quarantined']:,}[/red]" if wm["quarantined"] else "0",
                  ", ".join(f["path"] for f in wm["files"]) or "(absent)", wm["max_timestamp"] or "")
    console.print(t)
    for m in s.missing_inputs():
        what = f"table {m['table']}" if m["column"] is None else f"{m['file']}: column {m['column']}"
        console.print(f"[yellow]missing:[/yellow] {what} is {m['problem']} "
                      "(a decision whose pack rules read it stops)")
    doubted = {i["member_id"] for i in s.member_issues()}
    if doubted:
        console.print(f"[yellow]{len(doubted):,} member(s) with a quarantined member, consent, request or "
                      "sign-in row: every item of theirs is excluded as malformed[/yellow]")
    total_q = sum(s.quarantined.values())
    if not total_q:
        console.print("[green]no rows quarantined[/green]")
        return
    by_field: Counter = Counter()
    examples = []
    with open(s.quarantine_path, encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            by_field[(q["table"], q["field"])] += 1
            if len(examples) < show:
                examples.append(q)
    qt = Table(title=f"quarantine: {total_q:,} rows ({s.quarantine_path})")
    for c in ("table", "field", "rows"):
        qt.add_column(c)
    for (tb, fld), n in by_field.most_common():
        qt.add_row(tb, fld, f"{n:,}")
    console.print(qt)
    ex = Table(title="examples")
    for c in ("file", "row", "field", "error"):
        ex.add_column(c)
    for q in examples:
        ex.add_row(q["file"], str(q["row"]), q["field"], q["error"])
    console.print(ex)


def register(app: typer.Typer) -> None:
    app.add_typer(network_app, name="network")
