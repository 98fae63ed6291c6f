"""Run the decision plan on DuckDB: register `ip_geo`, fill absent tables, query.

The plan itself is pure SQL (`plan.decisions_sql`); this is the small embedded
runner that the CLI, the snapshot builder's DuckDB engine, the privacy center and
the tests share. It resolves only the IPs the plan can use (sign-ins inside the
pack's look-back window before T), so the offline IP lookup stays proportional to
recent activity, not to the whole sign-in history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from consentry.network.schema import TABLES as EXPORT_SCHEMAS
from consentry.policy import requirements
from consentry.policy.jurisdiction import resolve_ips
from consentry.policy.packs import Pack, as_utc, load_pack
from consentry.policy.plan import Dialect, decisions_sql, member_decisions_sql
from consentry.vocab import Purpose

PLAN_INPUTS: tuple[str, ...] = ("members", "items", "signins", "consent_events", "requests", "notices",
                                "member_issues")


def existing_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def ensure_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """An export may lack optional tables: stand in an empty one with the export schema."""
    present = existing_relations(con)
    for name in PLAN_INPUTS:
        if name not in present:
            con.register(name, EXPORT_SCHEMAS[name].empty_table())


def ip_window(pack: Pack, as_of: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    version = pack.version_at(as_of)
    if version is None:
        return None
    return as_of - dt.timedelta(days=version.signin_lookback_days), as_of


def register_ip_geo(con: duckdb.DuckDBPyConnection, pack: Pack, as_of: dt.datetime) -> pa.Table:
    """Resolve the distinct IPs of sign-ins in the look-back window and register `ip_geo`."""
    window = ip_window(pack, as_of)
    if window is None:
        geo = resolve_ips([])
    else:
        d = Dialect("duckdb")
        lo, hi = (d.ts(w) for w in window)
        ips = con.sql(
            f'SELECT DISTINCT trim(ip) AS ip FROM signins WHERE "at" >= {lo} AND "at" <= {hi}'
            " AND ip IS NOT NULL"
        ).to_arrow_table()
        geo = resolve_ips(ips.column("ip"))
    con.register("ip_geo", geo)
    return geo


def decide(
    con: duckdb.DuckDBPyConnection,
    pack: Pack | str,
    purpose: Purpose | str,
    as_of: dt.datetime | dt.date | str,
    *,
    enums: bool = False,
    member_id: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """Decisions (DESIGN.md columns + region_group) for every item, as a DuckDB relation.

    enums=True types the vocabulary columns as DuckDB ENUMs (what writing a file
    wants); the default keeps plain strings for Arrow consumers. member_id decides
    that member's items only (the filter is pushed into every input).
    """
    pack = load_pack(pack) if isinstance(pack, str) else pack
    t = as_utc(as_of)
    requirements.check(requirements.missing_in(con), pack, purpose, t)  # missing is unknown: stop
    ensure_inputs(con)
    register_ip_geo(con, pack, t)
    return con.sql(decisions_sql(pack, purpose, t, dialect="duckdb", enums=enums, member_id=member_id))


def decide_members(
    con: duckdb.DuckDBPyConnection,
    pack: Pack | str,
    purposes: Purpose | str | Sequence[Purpose | str],
    as_of: dt.datetime | dt.date | str,
    *,
    member_id: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """The member-level decisions of the same plan (`plan.member_decisions_sql`): per member
    and purpose, whether their data is used at T, and the member-level reasons why not.

    Several purposes are asked in one query (a member page asks five), with the inputs
    checked and `ip_geo` resolved once."""
    pack = load_pack(pack) if isinstance(pack, str) else pack
    t = as_utc(as_of)
    purposes = [purposes] if isinstance(purposes, str) else list(purposes)
    missing = requirements.missing_in(con)
    for purpose in purposes:
        requirements.check(missing, pack, purpose, t)
    ensure_inputs(con)
    register_ip_geo(con, pack, t)
    return con.sql(" UNION ALL ".join(
        f"SELECT * FROM ({member_decisions_sql(pack, p, t, dialect='duckdb', member_id=member_id)}) q{i}"
        for i, p in enumerate(purposes)))


# ----------------------------------------------------------------- the ledger, the system of record
LEDGER_KEYS: dict[str, tuple[str, ...]] = {
    "consent_events": ("event_id",),
    "requests": ("request_id",),
    "notices": ("member_id", "notice_version", "delivered_at"),
}
"""The tables the ledger records (choices, requests, notices), each with the key that
identifies one record: an export row imported into the ledger keeps its id, so the
union of both is each record once."""


def ledger_tables(ledger: object, member_id: str | None = None) -> dict[str, pa.Table]:
    """The ledger's choices, requests and notices in the export schema (one member's, or all)."""
    if member_id is None:
        return {"consent_events": ledger.events_table(), "requests": ledger.requests_table(),
                "notices": ledger.notices_table()}
    reads = {"consent_events": ledger.events_for, "requests": ledger.requests_for, "notices": ledger.notices_for}
    out = {}
    for name, read in reads.items():
        schema = EXPORT_SCHEMAS[name]
        rows = [{f.name: getattr(r, f.name, None) for f in schema} for r in read(member_id)]
        out[name] = pa.Table.from_pylist(rows, schema=schema)
    return out


def union_sql(export: str, ledger: str, name: str) -> str:
    """The export's rows of `name` plus the ledger's rows not already among them (by key)."""
    cols = ", ".join(f'"{f.name}"' for f in EXPORT_SCHEMAS[name])
    on = " AND ".join(f'l."{k}" IS NOT DISTINCT FROM e."{k}"' for k in LEDGER_KEYS[name])
    return (f"SELECT {cols} FROM {export} UNION ALL "
            f"SELECT {cols} FROM {ledger} l WHERE NOT EXISTS (SELECT 1 FROM {export} e WHERE {on})")


def merge_ledger(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Make the connection's consent_events, requests and notices the export's ∪ the ledger's.

    Why: the ledger is the record of choices, requests and notices (what the center and
    the API write); the export's consent history is what was imported into it. Every
    surface that decides (`decide`, `explain`, the center, the API; `snapshot build` via
    `union_sql`) reads the same union, so a member who opts out in the center is opted
    out everywhere. The export's view is kept as `export_<name>`; calling this again
    replaces only the ledger's rows. A table the export lacks stays absent, so that
    `requirements` still stops a decision that needs it (missing is unknown).
    """
    present = existing_relations(con)
    for name, table in tables.items():
        if name not in present and f"export_{name}" not in present:
            continue  # absent from the export: left absent, so the requirements still see it missing
        schema = EXPORT_SCHEMAS[name]
        if f"export_{name}" not in present:
            con.execute(f'ALTER VIEW "{name}" RENAME TO "export_{name}"')
        con.register(f"ledger_{name}", table.select(schema.names).cast(schema))
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS '
                    + union_sql(f'"export_{name}"', f'"ledger_{name}"', name))
