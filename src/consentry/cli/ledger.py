"""`consentry ledger ...` and `consentry audit verify`: thin commands over `consentry.ledger`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from consentry.cli import params
from consentry.errors import NotFound, OptionError, UserError

ledger_app = typer.Typer(help="The consent ledger: events, requests, notices, members.", no_args_is_help=True)
audit_app = typer.Typer(help="The ledger's audit chain.", no_args_is_help=True)
console = Console()

UrlOpt = typer.Option(None, "--url", help="Ledger URL (default: CONSENTRY_LEDGER_URL or HOME/ledger.sqlite).",
                      callback=params.ledger_url)


def _ledger(url: Optional[str], create: bool = False):  # noqa: ANN202 - keeps the import lazy
    from consentry.ledger import Ledger

    if not create:  # reading a ledger that is not there is an error, never a new empty database
        from consentry.settings import Settings

        params.ledger_must_exist(url or Settings().ledger)
    ledger = Ledger(url)
    if create:
        return ledger.create()
    try:
        _require_current_schema(ledger)
    except UserError:
        ledger.close()
        raise
    return ledger


def _require_current_schema(ledger) -> None:  # noqa: ANN001 - keeps the import lazy
    """Refuse a database that holds no ledger, or one at another schema revision, with one line.

    Why not read it anyway: an empty or old schema answers every query wrongly or with
    a database error; the user can act on "run `consentry ledger init`"."""
    from consentry.ledger.migrate import head_revision

    revision = ledger.schema_revision()
    if revision is None:
        raise NotFound(f"no ledger at {ledger!r}: the database holds no ledger tables; run `consentry ledger init` "
                       "or `consentry ledger import DIR` first, or give --url")
    if revision != head_revision():
        raise UserError(f"the ledger at {ledger!r} has schema {revision}, this consentry needs {head_revision()}: "
                        "run `consentry ledger init` to upgrade it")


@ledger_app.command("init")
def init(url: Optional[str] = UrlOpt) -> None:
    """Create or upgrade the ledger schema."""
    with _ledger(url, create=True) as ledger:
        console.print(f"ledger ready at {ledger!r} (schema {ledger.schema_revision()})")


@ledger_app.command("import")
def import_(directory: Path = typer.Argument(..., help="Export directory.", callback=params.ledger_export_dir),
            url: Optional[str] = UrlOpt) -> None:
    """Load an export's members, consent events, requests and notices (idempotent)."""
    from consentry.ledger import AuditKeyError

    with _ledger(url, create=True) as ledger:
        try:
            report = ledger.import_export(directory, progress=True)
        except AuditKeyError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
    t = Table("table", "read", "inserted", "duplicates", "rejected", "quarantined")
    for name in ("members", "notices", "consent_events", "requests"):
        r = report[name]
        t.add_row(name, str(r["read"]), str(r["inserted"]), str(r["duplicates"]), str(len(r["rejected"])),
                  str(r["quarantined"]))
    console.print(t)
    for q in report["quarantine"][:20]:
        console.print(f"[yellow]quarantined[/] {q['file']} row {q['row']} field {q['field']}: {q['error']}")
    if report["quarantined"] > 20:
        console.print(f"... {report['quarantined']} rows quarantined in all")
    for name in ("members", "notices", "consent_events", "requests"):
        for rej in report[name]["rejected"][:20]:
            console.print(f"[red]rejected[/] {directory}/{name} row {rej['row']} field {rej['field']}: {rej['error']}")


@ledger_app.command("export")
def export(directory: Path = typer.Argument(..., help="Output directory."), url: Optional[str] = UrlOpt) -> None:
    """Write the ledger as an export (Parquet)."""
    with _ledger(url) as ledger:
        paths = ledger.export_to(directory)
    for name, path in paths.items():
        console.print(f"{name}: {path}")


@ledger_app.command("events")
def events(member: str = typer.Option(..., "--member", help="Member id."),
           as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
           url: Optional[str] = UrlOpt) -> None:
    """A member's consent history, oldest first."""
    with _ledger(url) as ledger:
        records = ledger.events_for(member)
    if as_json:
        for r in records:
            typer.echo(json.dumps({"seq": r.seq, "event_id": r.event_id, "purpose": r.purpose, "choice": r.choice,
                                   "source": r.source, "notice_version": r.notice_version, "at": r.at.isoformat(),
                                   "legal_basis": r.legal_basis, "jurisdiction": r.jurisdiction}))
        return
    t = Table("at", "purpose", "choice", "source", "notice", "legal basis", "event id", title=f"member {member}")
    for r in records:
        t.add_row(r.at.isoformat(), r.purpose, r.choice, r.source, r.notice_version or "", r.legal_basis or "",
                  r.event_id)
    console.print(t if records else f"no consent events for member {member}")


@ledger_app.command("receipt")
def receipt(event_id: str = typer.Argument(...), url: Optional[str] = UrlOpt) -> None:
    """The consent receipt (ISO/IEC TS 27560 fields) of one event."""
    with _ledger(url) as ledger:
        try:
            typer.echo(json.dumps(ledger.receipt(event_id), indent=2))
        except KeyError as exc:
            raise NotFound(exc.args[0]) from None


@audit_app.command("verify")
def verify(url: Optional[str] = UrlOpt,
           anchor: Optional[str] = typer.Option(None, help="SEQ:HASH from an earlier `audit head`.")) -> None:
    """Verify the audit chain; exit code 1 naming the first bad seq when tampered."""
    pin = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise OptionError("--anchor", anchor, "not SEQ:HASH", "SEQ:HASH as `consentry audit head` prints it "
                              "(a number, a colon, 64 hex digits)")
        pin = (int(seq), digest)
    with _ledger(url) as ledger:
        report = ledger.verify_chain(pin)
    if report.ok:
        console.print(f"[green]{report.text()}[/]")
        return
    console.print(f"[red]{report.text()}[/]")
    for seq, why in report.problems[1:10]:
        console.print(f"  also seq {seq}: {why}")
    raise typer.Exit(1)


@audit_app.command("head")
def head(url: Optional[str] = UrlOpt) -> None:
    """Print SEQ:HASH of the last audit link (keep it elsewhere; pass it to `verify --anchor`)."""
    with _ledger(url) as ledger:
        seq, digest = ledger.head()
    typer.echo(f"{seq}:{digest}")


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(audit_app, name="audit")
