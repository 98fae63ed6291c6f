"""`consentry forget --request ID | --pending`: thin command over `consentry.forgetting.run`."""

from __future__ import annotations

import json

import typer
from rich.console import Console

console = Console()


def forget(
    request: str = typer.Option(None, "--request", help="one ledger request id"),
    pending: bool = typer.Option(False, "--pending", help="every unprocessed request and new opt-out/objection"),
    resume: bool = typer.Option(False, "--resume", help="only finish forget runs a crash interrupted"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    no_retrain: bool = typer.Option(False, "--no-retrain", help="do not retrain affected model shards"),
) -> None:
    """Make erasures and retroactive opt-outs physically true in every copy, then write receipts.

    Any run a crash interrupted is finished first (with its own run id and receipts).
    """
    from consentry.forgetting.run import ForgetError
    from consentry.forgetting.run import forget as run

    if not request and not pending and not resume:
        _fail("give --request ID, --pending or --resume")
    from consentry.cli.progress import forget_steps

    try:
        with forget_steps():
            report = run(request_id=request, pending=pending, resume=resume, retrain=not no_retrain)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    except ForgetError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2))
    else:
        console.print(report.text())


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
