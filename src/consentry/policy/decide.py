"""Run the decision plan on DuckDB: register `ip_geo`, fill absent tables, query.

The plan itself is pure SQL (`plan.decisions_sql`); this is the small embedded
runner that the CLI, the snapshot builder's DuckDB engine, the privacy center and
the tests share. It resolves only the IPs the plan can use (sign-ins inside the
pack's look-back window before T), so the offline IP lookup stays proportional to
recent activity, not to the whole sign-in history.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from consentry.network.schema import TABLES as EXPORT_SCHEMAS
from consentry.policy import requirements
from consentry.policy.jurisdiction import resolve_ips
from consentry.policy.packs import Pack, as_utc, load_pack
from consentry.policy.plan import Dialect, decisions_sql
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
) -> duckdb.DuckDBPyRelation:
    """Decisions (DESIGN.md columns + region_group) for every item, as a DuckDB relation.

    enums=True types the vocabulary columns as DuckDB ENUMs (what writing a file
    wants); the default keeps plain strings for Arrow consumers.
    """
    pack = load_pack(pack) if isinstance(pack, str) else pack
    t = as_utc(as_of)
    requirements.check(requirements.missing_in(con), pack, purpose, t)  # missing is unknown: stop
    ensure_inputs(con)
    register_ip_geo(con, pack, t)
    return con.sql(decisions_sql(pack, purpose, t, dialect="duckdb", enums=enums))
