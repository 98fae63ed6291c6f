"""`consentry forget --request ID | --pending`: thin command over `consentry.forgetting.run`."""

from __future__ import annotations

import json

import typer
from rich.console import Console

console = Console()


def forget(
    request: str = typer.Option(None, "--request", help="one ledger request id"),
    pending: bool = typer.Option(False, "--pending", help="every unprocessed request and new opt-out/objection"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
    no_retrain: bool = typer.Option(False, "--no-retrain", help="do not retrain affected model shards"),
) -> None:
    """Make erasures and retroactive opt-outs physically true in every live snapshot, then write receipts."""
    from consentry.forgetting.run import forget as run

    if not request and not pending:
        raise typer.BadParameter("give --request ID or --pending")
    try:
        report = run(request_id=request, pending=pending, retrain=not no_retrain)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from None
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2))
    else:
        console.print(report.text())


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
