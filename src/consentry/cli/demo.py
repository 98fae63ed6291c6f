"""`consentry demo`: thin command over `consentry.demo` (what `make demo` runs)."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def demo(
    members: int = typer.Option(10_000, "--members", "-n", min=1, help="size of the synthetic network"),
    seed: int = typer.Option(7, "--seed", help="network seed; same seed, same network"),
    train: bool = typer.Option(True, "--train/--no-train", help="train and forget the models (step 4)"),
    serve: bool = typer.Option(False, "--serve", help="leave the privacy center running at the end"),
    full: bool = typer.Option(False, "--full", help="the larger assistant configuration (says how long before it starts)"),
) -> None:
    """Run the main job on the embedded default: decide, snapshot, forget, train, unlearn."""
    from consentry.demo import DemoError, DemoOptions, run
    from consentry.settings import Settings

    try:
        run(Settings(), DemoOptions(members=members, seed=seed, train=train, full=full), console)
    except DemoError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if serve:
        from consentry.cli.center import serve as serve_center

        serve_center(host="127.0.0.1", port=8000, workers=1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
