"""`consentry request erase|export|object MEMBER` and `consentry requests process|list`:
thin commands over `consentry.center.fulfil` (the same filing as the page and the API)."""

from __future__ import annotations

import json
import uuid
from enum import Enum

import typer

from consentry.cli import params

request_app = typer.Typer(help="File a data-subject request or objection for a member (operator channel).",
                          no_args_is_help=True)
requests_app = typer.Typer(help="Work through open data-subject requests.", no_args_is_help=True)


class Scope(str, Enum):
    ai_data = "ai-data"
    items = "items"
    account = "account"


IdOpt = typer.Option(None, "--client-request-id",
                     help="idempotency key: repeating the command with the same key records nothing new")


def _sources():  # imports stay lazy for `--help`
    from consentry.center.sources import Sources
    from consentry.settings import Settings

    return Sources(Settings())


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _show(rec: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rec, indent=2, default=str))
        return
    what = rec.get("request_id") or rec.get("event_id")
    due = f", answer due {str(rec['deadline'])[:10]}" if rec.get("deadline") else ""
    new = "" if rec.get("created", True) else " (already recorded: nothing new)"
    typer.echo(f"recorded {what} for {rec['member_id']}{due}{new}")


def _file(member: str, kind: str, items: list[str] | None, crid: str | None, as_json: bool) -> None:
    from consentry.center import fulfil

    try:
        rec = fulfil.file_request(_sources(), member, kind, items,
                                  client_request_id=f"cli:{member}:{crid or uuid.uuid4().hex}")
    except (fulfil.RequestRefused, ValueError) as exc:
        _fail(exc)
    _show(rec, as_json)


@request_app.command("erase")
def erase(
    member: str = typer.Argument(..., help="the member's id"),
    scope: Scope = typer.Option(Scope.ai_data, "--scope",
                                help="ai-data: their data in AI training only; items: the --item ids; account: everything"),
    item: list[str] = typer.Option(None, "--item", help="an item id to erase (repeat; implies --scope items)"),
    client_request_id: str | None = IdOpt,
    as_json: bool = typer.Option(False, "--json", help="print the request as JSON"),
) -> None:
    """File an erasure request; `consentry forget --pending` carries it out and closes it."""
    kind = "erase_items" if item else {"ai-data": "erase_ai_data", "items": "erase_items", "account": "erase_account"}[scope.value]
    _file(member, kind, list(item or []) or None, client_request_id, as_json)


@request_app.command("export")
def export(
    member: str = typer.Argument(..., help="the member's id"),
    client_request_id: str | None = IdOpt,
    as_json: bool = typer.Option(False, "--json", help="print the request as JSON"),
) -> None:
    """File an export (access) request; `consentry requests process` fulfils and closes it."""
    _file(member, "export", None, client_request_id, as_json)


@request_app.command("object")
def object_(
    member: str = typer.Argument(..., help="the member's id"),
    purpose: params.Purpose = typer.Option(..., "--purpose", help="the purpose objected to, e.g. ml_safety",
                                           callback=params.plain),
    withdraw: bool = typer.Option(False, "--withdraw", help="withdraw an earlier objection instead"),
    client_request_id: str | None = IdOpt,
    as_json: bool = typer.Option(False, "--json", help="print the event as JSON"),
) -> None:
    """Record an objection to a purpose (the pack says whether it is honoured, and why not)."""
    from consentry.center import fulfil

    try:
        rec = fulfil.file_objection(_sources(), member, purpose, withdraw=withdraw,
                                    client_request_id=f"cli:{member}:{client_request_id or uuid.uuid4().hex}")
    except (fulfil.RequestRefused, ValueError) as exc:
        _fail(exc)
    _show(rec, as_json)


@requests_app.command("process")
def process(as_json: bool = typer.Option(False, "--json", help="print the outcomes as JSON")) -> None:
    """Fulfil every pending export request: write the member's bundle and close the request."""
    from consentry.center import fulfil
    from consentry.center.config import CenterSettings
    from consentry.policy.packs import load_pack

    src = _sources()
    from consentry.cli.progress import working

    with working("requests process: writing export bundles"):
        outcomes = fulfil.process_exports(src, load_pack(CenterSettings().pack))
    left = [r for r in fulfil.open_requests(src)]
    if as_json:
        typer.echo(json.dumps({"outcomes": [o.__dict__ for o in outcomes], "open": len(left),
                               "overdue": sum(r["overdue"] for r in left)}, indent=2))
        return
    for o in outcomes:
        typer.echo(o.line())
    erasures = sum(r["kind"] in fulfil.ERASE_KINDS for r in left)
    typer.echo(f"{len(outcomes)} export request(s) processed; open now: {len(left)} "
               f"({sum(r['overdue'] for r in left)} overdue; {erasures} erasure(s): run `consentry forget --pending`)")


@requests_app.command("list")
def list_open(as_json: bool = typer.Option(False, "--json", help="print as JSON")) -> None:
    """Open requests against their legal deadlines, soonest due first."""
    from consentry.center import fulfil

    rows = fulfil.open_requests(_sources())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        state = f"overdue {-r['days_left']} days" if r["overdue"] else f"{r['days_left']} days left"
        typer.echo(f"{r['request_id']}  {r['member_id']}  {r['kind']}  {r['law']}  due {r['due'].date()}  {state}")
    typer.echo(f"{len(rows)} open request(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(request_app, name="request")
    app.add_typer(requests_app, name="requests")
