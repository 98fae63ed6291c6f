"""`consentry decide`, `consentry explain`, `consentry pack list|show|validate`.

Thin commands over `consentry.policy`; the export is staged (validated, malformed
rows quarantined) by `consentry.network` before the plan sees it.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from consentry.cli import params

console = Console()
pack_app = typer.Typer(help="Policy packs: list, show, validate.", no_args_is_help=True)


_DUCK_TYPES = {"string": "VARCHAR", "timestamp[us, tz=UTC]": "TIMESTAMPTZ", "date32[day]": "DATE",
               "bool": "BOOLEAN", "list<item: string>": "VARCHAR[]"}


def open_raw(network: Path):  # noqa: ANN201 - duckdb connection
    """Views straight over NAME.parquet / NAME.jsonl, cast to the export schema (no staging).

    For exports already validated elsewhere; a row that does not cast fails the query
    instead of going to quarantine.
    """
    import duckdb

    from consentry.network.schema import TABLES
    from consentry.policy.decide import PLAN_INPUTS

    con = duckdb.connect()
    for name in PLAN_INPUTS:
        cols = ", ".join(f'CAST("{f.name}" AS {_DUCK_TYPES[str(f.type)]}) AS "{f.name}"' for f in TABLES[name])
        for ext, reader_fn in (("parquet", "read_parquet"), ("jsonl", "read_json_auto")):
            path = network / f"{name}.{ext}"
            if path.is_file():
                lit = str(path).replace("'", "''")
                con.execute(f'CREATE VIEW "{name}" AS SELECT {cols} FROM {reader_fn}(\'{lit}\')')
                break
    return con, 0


def open_export(network: Path, quiet: bool = False, raw: bool = False):  # noqa: ANN201
    """A DuckDB connection with views over the staged export, and the quarantine count.

    Staging is cached under $CONSENTRY_HOME/staged/<fingerprint>/, so deciding again
    on the same export costs nothing extra. `raw` skips staging (see `open_raw`).
    """
    import duckdb

    if not network.is_dir():
        raise typer.BadParameter(f"{network} is not a directory", param_hint="--network")
    if raw:
        return open_raw(network)
    from consentry.network import reader, views
    from consentry.settings import get_settings

    staged = reader.stage_cached(network, get_settings().home / "staged", progress=not quiet)
    con = duckdb.connect()
    views.register(con, staged.dest)
    return con, sum(staged.quarantined.values())


LEDGER_URL_HELP = ("ledger whose choices, requests and notices are read with the export (default: "
                   "$CONSENTRY_LEDGER_URL, else $CONSENTRY_HOME/ledger.sqlite when it exists)")


def read_ledger(con, ledger_url: str | None, no_ledger: bool) -> str | None:  # noqa: ANN001 - duckdb connection
    """Merge the ledger's records into the export's views (`policy.decide.merge_ledger`).

    The same rule as `snapshot build`: an explicit --ledger-url (or setting) must exist;
    otherwise the home's ledger is read when there is one. Returns the URL read, if any."""
    if no_ledger:
        return None
    from consentry.ledger.store import Ledger
    from consentry.policy.decide import ledger_tables, merge_ledger
    from consentry.settings import get_settings

    settings = get_settings()
    url = ledger_url or settings.ledger_url
    if url is None:
        if not (settings.home / "ledger.sqlite").exists():
            return None
        url = settings.ledger
    params.ledger_must_exist(url)
    with Ledger(url) as ledger:
        merge_ledger(con, ledger_tables(ledger))
    return url


def _load(pack: str):  # noqa: ANN202
    from consentry.policy.packs import load_pack

    return load_pack(pack)  # a PackError names file, line and field: one line (consentry.cli.errors)


def write_decisions(con, rel, out: Path) -> str:  # noqa: ANN001 - duckdb connection and relation
    """Write the decision table to `out` (.parquet, .csv, .jsonl/.json by suffix); returns the format.

    The one way decisions are written, shared with `benchmarks/decide.py` so that
    the benchmark measures exactly what this command does.
    """
    from consentry.errors import OptionError
    from consentry.policy.plan import VOCAB_ENUMS

    fmt = params.DECISION_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise OptionError("--out", str(out), "not a format decisions are written in", ", ".join(params.DECISION_FORMATS))
    out.parent.mkdir(parents=True, exist_ok=True)
    path = str(out).replace("'", "''")
    # Vocabulary columns as ENUMs: the file still holds plain strings, but the writer
    # skips hashing ten million repeats of a dozen values. `decide(..., enums=True)`
    # types them once per member; string columns are cast here, and a value outside
    # the vocabulary fails the write instead of passing silently.
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    replace = ", ".join(f'"{c}"::{t} AS "{c}"' for c, t in VOCAB_ENUMS.items()
                        if c in types and not types[c].startswith("ENUM"))
    query = f"SELECT * REPLACE ({replace}) FROM ({rel.sql_query()})" if replace else rel.sql_query()
    con.execute(f"COPY ({query}) TO '{path}' (FORMAT {fmt})")
    return fmt


def decide_cmd(
    network: Path = typer.Option(None, "--network", help="export directory (default: $CONSENTRY_HOME/network)",
                                 callback=params.export_dir),
    pack: str = typer.Option(..., "--pack", help="pack name (consentry pack list) or YAML file", callback=params.pack),
    purpose: params.Purpose = typer.Option("genai_training", "--purpose", help="purpose to decide for",
                                          callback=params.plain),
    as_of: str = typer.Option(..., "--as-of", help="decision time T, ISO 8601 (UTC if no offset)",
                              callback=params.as_of),
    out: Path = typer.Option(..., "--out", help="decisions file: .parquet, .csv or .jsonl",
                             callback=params.decisions_out),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    raw: bool = typer.Option(False, "--raw", help="read the export files directly, without staging"),
    ledger_url: str = typer.Option(None, "--ledger-url", help=LEDGER_URL_HELP, callback=params.ledger_url),
    no_ledger: bool = typer.Option(False, "--no-ledger", help="decide on the export alone"),
) -> None:
    """Decide, for every item, whether it may be used for PURPOSE as of T, with every reason.

    The export plus the ledger's choices, requests and notices: the same inputs and plan
    as `snapshot build`, the privacy center and the API."""
    from consentry.policy.decide import decide
    from consentry.settings import get_settings

    from consentry import openlineage_events as ol

    p = _load(pack)
    export = network or get_settings().network
    con, quarantined = open_export(export, quiet, raw)
    url = read_ledger(con, ledger_url, no_ledger)
    inputs = [ol.DatasetRef.path(export)] + ([ol.DatasetRef.ledger(url)] if url else [])
    with ol.run(f"decide.{purpose}", inputs) as run:  # the decisions file out, as OpenLineage reports it
        rel = decide(con, p, purpose, as_of, enums=True)
        fmt = write_decisions(con, rel, out)
        run.output(ol.DatasetRef.parquet(out) if fmt == "parquet" else ol.DatasetRef.path(out))
    path = str(out).replace("'", "''")
    written = f"read_{'parquet' if fmt == 'parquet' else 'json_auto' if fmt == 'json' else 'csv_auto'}('{path}')"
    summary = con.sql(
        f"SELECT coalesce(region_group, '(unknown)') AS g, count(*) AS n, count_if(allowed) AS ok "
        f"FROM {written} GROUP BY 1 ORDER BY n DESC"
    ).fetchall()
    # The summary reads what was written; CSV flattens the reasons list, so only it re-runs the plan.
    lists = written if fmt != "csv" else f"({rel.sql_query()})"
    reasons = con.sql(
        f"SELECT r, count(*) FROM (SELECT unnest(reasons) AS r FROM {lists}) GROUP BY r ORDER BY 2 DESC"
    ).fetchall()
    t = Table(title=f"{purpose} as of {as_of}, pack {p.name}")
    t.add_column("region group")
    t.add_column("items", justify="right")
    t.add_column("allowed", justify="right")
    for g, n, ok in summary:
        t.add_row(g, f"{n:,}", f"{ok / n:.1%}")
    console.print(t)
    console.print("reasons: " + ", ".join(f"{r} {n:,}" for r, n in reasons))
    total = sum(n for _, n, _ in summary)
    console.print(f"{total:,} decisions written to {out}; {quarantined:,} rows quarantined at staging")


def explain_cmd(
    network: Path = typer.Option(None, "--network", help="export directory (default: $CONSENTRY_HOME/network)",
                                 callback=params.export_dir),
    pack: str = typer.Option(..., "--pack", help="pack name or YAML file", callback=params.pack),
    as_of: str = typer.Option(..., "--as-of", help="decision time T, ISO 8601", callback=params.as_of),
    member: str = typer.Option(None, "--member", help="explain one member"),
    item: str = typer.Option(None, "--item", help="explain one item"),
    purpose: params.Purpose = typer.Option(None, "--purpose",
                                           help="one purpose (default: all for a member, genai_training for an item)",
                                           callback=params.plain),
    as_json: bool = typer.Option(False, "--json", help="structured output"),
    quiet: bool = typer.Option(True, "--quiet/--progress", help="progress bar while staging"),
    raw: bool = typer.Option(False, "--raw", help="read the export files directly, without staging"),
    ledger_url: str = typer.Option(None, "--ledger-url", help=LEDGER_URL_HELP, callback=params.ledger_url),
    no_ledger: bool = typer.Option(False, "--no-ledger", help="explain from the export alone"),
) -> None:
    """Explain in plain words why a member's data or an item may or may not be used (the
    export plus the ledger, as `decide` reads them)."""
    from consentry.errors import NotFound
    from consentry.policy.explain import explain_item, explain_member
    from consentry.settings import get_settings

    if (member is None) == (item is None):
        raise typer.BadParameter("give exactly one of --member or --item")
    p = _load(pack)
    con, _ = open_export(network or get_settings().network, quiet, raw)
    read_ledger(con, ledger_url, no_ledger)
    if member is not None:
        e = explain_member(con, p, member, as_of, purpose)
        if not (e.found or e.issues or any(x.items for x in e.purposes)):  # nothing of this member anywhere
            raise NotFound(f"--member {member!r}: no member, item or quarantined row with this id in "
                           f"{network or get_settings().network}")
    else:
        try:
            e = explain_item(con, p, item, as_of, purpose or "genai_training")
        except KeyError as exc:
            raise NotFound(exc.args[0]) from None
    if as_json:
        print(json.dumps(e.to_dict(), default=str, indent=2))
    else:
        print(e.text())


@pack_app.command("list")
def pack_list() -> None:
    """The shipped packs and their versions."""
    from consentry.policy.packs import list_packs, load_pack

    t = Table(title="policy packs")
    for col in ("name", "versions", "description"):
        t.add_column(col)
    for name in list_packs():
        p = load_pack(name)
        t.add_row(name, ", ".join(str(v.effective_from) for v in p.versions), p.description)
    console.print(t)


@pack_app.command("show")
def pack_show(pack: str = typer.Argument(..., help="pack name or YAML file", callback=params.pack)) -> None:
    """Every version of a pack: groups and, per purpose, the rule of each group."""
    p = _load(pack)
    console.print(f"[bold]{p.name}[/bold]: {p.description}")
    for v in p.versions:
        console.print(
            f"\n[bold]version {v.version}[/bold] from {v.effective_from} — {v.note}\n"
            f"  min age {v.min_age}, unknown age {'excluded' if v.exclude_unknown_age else 'allowed'}, "
            f"sensitive groups {'excluded' if v.exclude_sensitive_groups else 'allowed'}, "
            f"notice {v.notice_period_days if v.notice_period_days is not None else 'not needed'}, "
            f"sign-in look-back {v.signin_lookback_days} days, {v.propagation.value}, {v.shards} shards\n"
            f"  excluded kinds: {', '.join(k.value for k in v.excluded_kinds) or '-'}; "
            f"visibilities: {', '.join(x.value for x in v.allowed_visibilities)}"
        )
        for g, cs in v.groups.items():
            console.print(f"  group {g}: {' '.join(cs)}")
        t = Table()
        t.add_column("purpose")
        groups = [*v.groups, "rest_of_world"]
        for g in groups:
            t.add_column(g)
        for purpose, pol in v.purposes.items():
            cells = []
            for g in groups:
                gr = v.rule_for(purpose, g)
                cells.append(f"{gr.rule.value} ({gr.legal_basis.value})" if gr else "-")
            t.add_row(purpose.value, *cells)
        console.print(t)


@pack_app.command("validate")
def pack_validate(file: Path = typer.Argument(..., help="pack YAML file", callback=params.pack)) -> None:
    """Validate a pack file; errors name the file, line and field."""
    p = _load(str(file))
    console.print(f"{file}: ok — pack {p.name}, {len(p.versions)} version(s)")


def register(app: typer.Typer) -> None:
    app.command("decide")(decide_cmd)
    app.command("explain")(explain_cmd)
    app.add_typer(pack_app, name="pack")
