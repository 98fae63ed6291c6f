"""A policy pack compiled to one relational query: the decision plan.

Why SQL: the same plan must run embedded (DuckDB) and on a cluster (Spark SQL)
with identical results, at millions of items per second. So every pack setting and
every date is resolved here, in Python, into literals (cut-off dates, the country →
group → rule table); the query itself only filters, aggregates per member once
(consent, requests, notices, sign-in countries) and joins that to the items once.
No correlated subqueries, no per-row Python.

Fail closed: each reason is a boolean that is true when its input is missing or
unknown (COALESCE to the protective side), and `allowed` is true only when no
reason applies. Reasons are listed in `vocab.Reason` order.

Input views: members, items, signins, consent_events, requests, notices (export
schemas), ip_geo(ip, country, is_datacenter) from `jurisdiction.resolve_ips`, and
member_issues(member_id, ...) from staging: members a quarantined row leaves in doubt
(contradictory member rows, an unreadable opt-out or erasure request), whose items are
all `malformed`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consentry.policy.packs import COUNTRIES, DEFAULT_GROUP, Pack, PackVersion, as_utc
from consentry.vocab import (
    CONTENT_KINDS,
    PURPOSES,
    REASONS,
    Choice,
    LegalBasis,
    Purpose,
    Reason,
    RequestKind,
    Rule,
    Source,
    Visibility,
)

DECISION_COLUMNS: tuple[str, ...] = (
    "item_id",
    "member_id",
    "purpose",
    "as_of",
    "allowed",
    "reasons",
    "jurisdiction",
    "legal_basis",
    "pack",
    "region_group",
)

TABLES: tuple[str, ...] = ("members", "items", "signins", "consent_events", "requests", "notices", "ip_geo",
                           "member_issues")


@dataclass(frozen=True)
class Dialect:
    """The few places where DuckDB and Spark SQL spell things differently."""

    name: str

    @property
    def string(self) -> str:
        return "STRING" if self.name == "spark" else "VARCHAR"

    def ident(self, name: str) -> str:
        return f"`{name}`" if self.name == "spark" else f'"{name}"'

    def ts(self, t: dt.datetime) -> str:
        s = t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"TIMESTAMP '{s}+00:00'" if self.name == "spark" else f"TIMESTAMPTZ '{s}+00:00'"

    def compact(self, elements: list[str]) -> str:
        """An array of the non-null elements, in order."""
        if self.name == "spark":
            return f"filter(array({', '.join(elements)}), x -> x IS NOT NULL)"
        return f"list_filter([{', '.join(elements)}], lambda x: x IS NOT NULL)"

    def size(self, expr: str) -> str:
        return f"size({expr})" if self.name == "spark" else f"len({expr})"

    def range(self, n: int) -> str:
        """A relation with one BIGINT column `id` = 0 .. n-1."""
        return f"range({n})" if self.name == "spark" else f"(SELECT range AS id FROM range({n})) r"

    def split(self, expr: str) -> str:
        return f"split({expr}, ',')" if self.name == "spark" else f"string_split({expr}, ',')"

    def explode(self, expr: str) -> str:
        return f"explode({expr})" if self.name == "spark" else f"unnest({expr})"

    def array(self, *elements: str) -> str:
        return f"array({', '.join(elements)})" if self.name == "spark" else f"list_value({', '.join(elements)})"

    def contains(self, arr: str, x: str) -> str:
        return f"array_contains({arr}, {x})" if self.name == "spark" else f"list_contains({arr}, {x})"

    def append(self, arr: str, x: str) -> str:
        return f"concat({arr}, array({x}))" if self.name == "spark" else f"list_append({arr}, {x})"


def lit(value: str | int | bool | None, d: Dialect) -> str:
    if value is None:
        return f"CAST(NULL AS {d.string})"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def in_list(values: list[str], d: Dialect) -> str:
    return "(" + ", ".join(lit(v, d) for v in values) + ")" if values else "(NULL)"


def _date(d: dt.date) -> str:
    return f"DATE '{d.isoformat()}'"


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year - years, day=28)


def geo_sql(version: PackVersion | None, purpose: Purpose, d: Dialect) -> str:
    """Every known country with its group, rule strictness, rule and legal basis.

    Written as one split string of all ISO codes joined to the few grouped countries:
    a 250-row VALUES list costs more to plan than the whole query on small inputs.
    """

    def row(country: str | None, group: str | None) -> str:
        gr = version.rule_for(purpose, group) if version and group else None
        rule = gr.rule if gr else None
        cells = [
            lit(country, d),
            lit(group, d),
            str(rule.strictness if rule else 0),
            lit(rule.value if rule else None, d),
            lit(gr.legal_basis.value if gr else "none", d),
        ]
        return "(" + ", ".join(cells) + ")"

    default = DEFAULT_GROUP if version else None
    rows = [row(None, default)]  # the default group's row, joined to every other country
    if version:
        rows += [row(c, g) for g, cs in version.groups.items() for c in sorted(cs)]
    codes = lit(",".join(sorted(COUNTRIES)), d)
    return f"""grp AS (
  SELECT * FROM (VALUES
    {(","+chr(10)+"    ").join(rows)}
  ) AS g(country, region_group, strictness, rule, legal_basis)
),
geo AS (
  SELECT c.country,
         COALESCE(gg.region_group, dg.region_group) AS region_group,
         COALESCE(gg.strictness, dg.strictness) AS strictness,
         COALESCE(gg.rule, dg.rule) AS rule,
         COALESCE(gg.legal_basis, dg.legal_basis) AS legal_basis
  FROM (SELECT {d.explode(d.split(codes))} AS country) c
  CROSS JOIN (SELECT * FROM grp WHERE country IS NULL) dg
  LEFT JOIN (SELECT * FROM grp WHERE country IS NOT NULL) gg ON gg.country = c.country
)"""


def _bit(reason: Reason) -> int:
    return 1 << list(Reason).index(reason)


def _mask(flags: dict[Reason, str]) -> str:
    """An integer with bit `Reason index` set for each flag that holds (0: none)."""
    terms = [f"CASE WHEN {expr} THEN {_bit(r)} ELSE 0 END" for r, expr in flags.items()]
    return "\n      + ".join(terms) if terms else "0"


def reasons_lookup_sql(active: list[Reason], d: Dialect) -> str:
    """Every combination of the active reasons: (mask, reasons list in vocab order).

    Building a list per item is the costliest step of the plan; items share few
    distinct combinations, so each item carries an integer mask and picks its list
    from this small table (2^k rows for the k reasons the pack can produce).
    """
    cols = []
    for j, r in enumerate(active):
        cols.append((f"CASE WHEN (id & {1 << j}) <> 0 THEN {_bit(r)} ELSE 0 END", f"CASE WHEN (id & {1 << j}) <> 0 THEN {lit(r.value, d)} END"))
    mask = " + ".join(c[0] for c in cols) or "0"
    reasons = d.compact([c[1] for c in cols]) if cols else d.compact([lit(None, d)])
    return f"SELECT {mask} AS mask, {reasons} AS reasons FROM {d.range(1 << len(active))}"


def enum_type(values: list[str] | tuple[str, ...]) -> str:
    """A DuckDB ENUM type literal over `values`, in their order."""
    return "ENUM(" + ", ".join(lit(v, Dialect("duckdb")) for v in values) + ")"


VOCAB_ENUMS: dict[str, str] = {
    "purpose": enum_type(PURPOSES),
    "reasons": enum_type(REASONS) + "[]",
    "legal_basis": enum_type([b.value for b in LegalBasis]),
}


def decision_enums(pack: Pack, version: PackVersion | None) -> dict[str, str]:
    """Column -> DuckDB ENUM type of every decision column with a closed vocabulary."""
    groups = sorted({DEFAULT_GROUP, *(version.groups if version else ())})
    return {
        **VOCAB_ENUMS,
        "jurisdiction": enum_type(sorted(COUNTRIES)),
        "pack": enum_type([pack.label(version)]),
        "region_group": enum_type(groups),
    }


def decisions_sql(
    pack: Pack, purpose: Purpose | str, as_of: dt.datetime | dt.date | str, dialect: str = "duckdb",
    *, enums: bool = False, member_id: str | None = None,
) -> str:
    """The decision query for one pack, purpose and time T (see module docstring): one row per item.

    enums=True (DuckDB only) types the vocabulary columns as ENUMs, cast once per
    member or per reason combination rather than per item: writing them costs a
    fraction of writing strings, and a Parquet file still holds plain strings.
    member_id pushes a filter on that member into every input (`consentry explain`).
    """
    c = _compile(pack, purpose, as_of, dialect, enums, member_id)
    return f"""{c.ctes},
flagged AS (
  SELECT i.item_id, i.member_id, f.jurisdiction, f.region_group, f.legal_basis,
      COALESCE(f.m_mask, {c.missing_mask}) | i.i_mask | ({_mask({Reason.ERASED: "er.item_id IS NOT NULL"})}) AS mask
  FROM (
    SELECT item_id, member_id,
           ({c.kind_bits}) | ({c.vis_bits}) | ({_mask(c.item_flags)}) AS i_mask
    FROM items{c.where}
  ) i
  LEFT JOIN facts f ON f.member_id = i.member_id
  LEFT JOIN er ON er.item_id = i.item_id
),
lk AS (
  {c.lookup}
)
SELECT x.item_id, x.member_id,
       {c.typed(lit(c.purpose.value, c.d), "purpose")} AS purpose,
       {c.T} AS as_of,
       x.mask = 0 AS allowed,
       lk.reasons,
       x.jurisdiction,
       COALESCE(x.legal_basis, {c.typed("'none'", "legal_basis")}) AS legal_basis,
       {c.typed(lit(c.pack_label, c.d), "pack")} AS pack,
       x.region_group
FROM flagged x JOIN lk ON lk.mask = x.mask"""


MEMBER_DECISION_COLUMNS: tuple[str, ...] = (
    "member_id", "purpose", "as_of", "used", "reasons", "jurisdiction", "legal_basis", "pack", "region_group",
)


def member_decisions_sql(
    pack: Pack, purpose: Purpose | str, as_of: dt.datetime | dt.date | str, dialect: str = "duckdb",
    *, member_id: str | None = None,
) -> str:
    """The member-level half of the same plan: one row per member of `members`.

    `used` is true when no member-level reason applies, i.e. exactly when the member's
    items are allowed unless a reason of the item itself (kind, visibility, deleted,
    erased item, ...) excludes it; `reasons` are those member-level reasons. This is
    what the privacy center and the API answer with (member_id pushes the filter down
    into every input, so one member costs milliseconds), computed by the very CTEs the
    item query uses: there is no second implementation of a rule.
    """
    c = _compile(pack, purpose, as_of, dialect, False, member_id)
    # Few rows: the reasons list is built per member (the item query's 2^k lookup
    # table would cost more than the members it serves).
    reasons = c.d.compact([f"CASE WHEN (f.m_mask & {_bit(r)}) <> 0 THEN {lit(r.value, c.d)} END" for r in c.active])
    return f"""{c.ctes}
SELECT f.member_id, {lit(c.purpose.value, c.d)} AS purpose, {c.T} AS as_of,
       f.m_mask = 0 AS used, {reasons} AS reasons, f.jurisdiction,
       COALESCE(f.legal_basis, 'none') AS legal_basis, {lit(c.pack_label, c.d)} AS pack, f.region_group
FROM facts f"""


@dataclass(frozen=True)
class _Compiled:
    """The shared part of both queries: CTEs up to per-member `facts`, and item pieces."""

    ctes: str
    lookup: str
    d: Dialect
    purpose: Purpose
    T: str
    pack_label: str
    types: dict[str, str]
    where: str
    missing_mask: int
    kind_bits: str
    vis_bits: str
    item_flags: dict[Reason, str]
    active: list[Reason]

    def typed(self, expr: str, column: str) -> str:
        return f"CAST({expr} AS {self.types[column]})" if column in self.types else expr


def _compile(
    pack: Pack, purpose: Purpose | str, as_of: dt.datetime | dt.date | str, dialect: str,
    enums: bool, member_id: str | None,
) -> _Compiled:
    if dialect not in ("duckdb", "spark"):
        raise ValueError(f"dialect must be 'duckdb' or 'spark', not {dialect!r}")
    if enums and dialect != "duckdb":
        raise ValueError("enums=True is for DuckDB only")
    d = Dialect(dialect)
    purpose = Purpose(purpose)
    t = as_utc(as_of)
    version = pack.version_at(t)
    policy = version.purposes.get(purpose) if version else None
    types = decision_enums(pack, version) if enums else {}

    def typed(expr: str, column: str) -> str:
        return f"CAST({expr} AS {types[column]})" if column in types else expr

    # The member filter, pushed into every input (a literal, so the scans can prune).
    only = f" AND member_id = {lit(member_id, d)}" if member_id is not None else ""
    where = f" WHERE member_id = {lit(member_id, d)}" if member_id is not None else ""
    at = d.ident("at")
    T = d.ts(t)

    rules: set[Rule] = set()
    if version is not None and policy is not None:
        lookback = d.ts(t - dt.timedelta(days=version.signin_lookback_days))
        excluded = [k.value for k in version.excluded_kinds_for(purpose)]
        visible = [v.value for v in version.visibilities_for(purpose)]
        min_age = version.min_age
        minor_cutoff = _years_before(t.date(), min_age) if min_age is not None else None
        unknown_age = version.exclude_unknown_age
        sensitive = version.exclude_sensitive_groups
        notice_days = version.notice_period_days
        honour_gpc, honour_objection = policy.honour_gpc, policy.honour_objection
        rules = {gr.rule for gr in policy.rules.values()}
    else:
        lookback = T
        excluded, visible = [], [v.value for v in Visibility]
        minor_cutoff, unknown_age, sensitive, notice_days = None, False, False, None
        honour_gpc, honour_objection = True, False

    gpc_filter = "" if honour_gpc else f" AND COALESCE(source, '') <> {lit(Source.GPC.value, d)}"
    erase_all = in_list([RequestKind.ERASE_ACCOUNT.value, RequestKind.ERASE_AI_DATA.value], d)
    erase_items = lit(RequestKind.ERASE_ITEMS.value, d)

    notice_cte = ""
    notice_join = ""
    notified = "TRUE"
    if notice_days is not None:
        cutoff = d.ts(t - dt.timedelta(days=notice_days))
        notice_cte = f""",
nt AS (
  SELECT member_id, min(delivered_at) AS first_notice
  FROM notices WHERE delivered_at <= {T}{only} GROUP BY member_id
)"""
        notice_join = "\n  LEFT JOIN nt ON nt.member_id = m.member_id"
        notified = f"COALESCE(nt.first_notice <= {cutoff}, FALSE)"

    prohibited, opt_in, allowed = (lit(r.value, d) for r in (Rule.PROHIBITED, Rule.OPT_IN, Rule.ALLOWED))

    # Reasons that depend on the member (computed once per member) ...
    member_flags: dict[Reason, str] = {}
    if Rule.PROHIBITED in rules:
        member_flags[Reason.REGION_PROHIBITED] = f"COALESCE(rule = {prohibited}, FALSE)"
    if policy is not None:
        member_flags[Reason.OPTED_OUT] = f"(opted_out AND COALESCE(rule <> {allowed}, TRUE))"
    if Rule.OPT_IN in rules:
        member_flags[Reason.NO_OPT_IN] = f"COALESCE(rule = {opt_in} AND NOT opted_in, FALSE)"
    if honour_objection:
        member_flags[Reason.OBJECTED] = "objected"
    if minor_cutoff is not None:
        member_flags[Reason.MINOR] = f"COALESCE(birth_date > {_date(minor_cutoff)}, FALSE)"
    if unknown_age:
        member_flags[Reason.AGE_UNKNOWN] = "birth_date IS NULL"
    member_flags[Reason.ERASED] = "erase_all"
    member_flags[Reason.ACCOUNT_CLOSED] = f"COALESCE(closed_at <= {T}, FALSE)"
    member_flags[Reason.NOT_YET_CREATED] = f"COALESCE(joined_at > {T}, FALSE)"
    if notice_days is not None:
        member_flags[Reason.NOT_NOTIFIED] = "NOT notified"
    member_flags[Reason.UNKNOWN_JURISDICTION] = "residence_unknown"
    member_flags[Reason.NON_MEMBER] = "COALESCE(is_member_i = 0, FALSE)"
    member_flags[Reason.MALFORMED] = "malformed"
    if policy is None:  # nothing is allowed: a fact of the date, so of every member (and item)
        member_flags[Reason.NO_POLICY_IN_FORCE] = "TRUE"
    # ... what an item whose member row is missing gets instead (fail closed) ...
    missing_member = [Reason.UNKNOWN_JURISDICTION, Reason.MALFORMED]
    missing_member += [r for r in (Reason.AGE_UNKNOWN, Reason.NOT_NOTIFIED, Reason.NO_POLICY_IN_FORCE)
                       if r in member_flags]
    missing_mask = sum(_bit(r) for r in missing_member)
    # ... and reasons of the item itself.
    # Computed on the items before they meet the joins, so only item_id, member_id
    # and one integer travel through them; the erasure list is the one join-side flag.
    item_flags: dict[Reason, str] = {}
    if sensitive:
        item_flags[Reason.SENSITIVE_GROUP] = "COALESCE(group_sensitive, TRUE)"
    item_flags[Reason.DELETED] = f"COALESCE(deleted_at <= {T}, FALSE)"
    item_flags[Reason.NOT_YET_CREATED] = f"COALESCE(created_at > {T}, FALSE)"
    item_flags[Reason.MALFORMED] = "(item_id IS NULL OR member_id IS NULL OR created_at IS NULL)"
    # Kind and visibility give their reason bits directly, one CASE each (IN lists
    # would be planned as joins): an excluded kind, a visibility the purpose may not
    # use; an unknown or missing kind is malformed, an unknown visibility is also not
    # public.
    malformed = _bit(Reason.MALFORMED)
    kind_bits = "CASE kind " + " ".join(
        f"WHEN {lit(k, d)} THEN {_bit(Reason.KIND_EXCLUDED) if k in excluded else 0}" for k in CONTENT_KINDS
    ) + f" ELSE {malformed} END"
    vis_bits = "CASE visibility " + " ".join(
        f"WHEN {lit(v.value, d)} THEN {0 if v.value in visible else _bit(Reason.NOT_PUBLIC)}" for v in Visibility
    ) + f" ELSE {malformed | _bit(Reason.NOT_PUBLIC)} END"
    item_reasons = {Reason.MALFORMED, Reason.NOT_PUBLIC, Reason.ERASED, *([Reason.KIND_EXCLUDED] if excluded else [])}
    active = [r for r in Reason if r in member_flags or r in item_flags or r in item_reasons]

    choice = {c: lit(c.value, d) for c in Choice}
    lookup = reasons_lookup_sql(active, d)
    if enums:  # 2^k casts instead of one per item
        lookup = f"SELECT mask, {typed('reasons', 'reasons')} AS reasons FROM ({lookup}) r"
    ctes = f"""WITH
{geo_sql(version, purpose, d)},
mem AS (
  SELECT member_id, count(*) AS n_rows,
         max(upper(trim(residence_country))) AS residence,
         max(birth_date) AS birth_date, max(joined_at) AS joined_at, max(closed_at) AS closed_at,
         min(CASE WHEN is_member THEN 1 WHEN NOT is_member THEN 0 END) AS is_member_i
  FROM members WHERE member_id IS NOT NULL{only} GROUP BY member_id
),
sig AS (
  SELECT DISTINCT s.member_id, g.country
  FROM signins s JOIN ip_geo g ON trim(s.ip) = g.ip
  WHERE s.{at} >= {lookback} AND s.{at} <= {T} AND g.country IS NOT NULL{only.replace('member_id', 's.member_id')}
),
sig_best AS (
  SELECT member_id, country, region_group, strictness, rule, legal_basis FROM (
    SELECT s.member_id, s.country, geo.region_group, geo.strictness, geo.rule, geo.legal_basis,
           ROW_NUMBER() OVER (PARTITION BY s.member_id ORDER BY geo.strictness DESC, s.country) AS rn
    FROM sig s JOIN geo ON s.country = geo.country
  ) ranked WHERE rn = 1
),
ce AS (
  SELECT member_id,
         max(CASE WHEN choice = {choice[Choice.OPT_IN]} THEN {at} END) AS last_in,
         max(CASE WHEN choice = {choice[Choice.OPT_OUT]} THEN {at} END) AS last_out,
         max(CASE WHEN choice = {choice[Choice.OBJECT]} THEN {at} END) AS last_object,
         max(CASE WHEN choice = {choice[Choice.WITHDRAW_OBJECTION]} THEN {at} END) AS last_withdraw
  FROM consent_events
  WHERE purpose = {lit(purpose.value, d)} AND {at} <= {T}{gpc_filter}{only}
  GROUP BY member_id
),
rq AS (
  SELECT member_id,
         max(CASE WHEN kind IN {erase_all} THEN 1
                  WHEN kind = {erase_items} AND (item_ids IS NULL OR {d.size('item_ids')} = 0) THEN 1
                  ELSE 0 END) AS erase_all
  FROM requests WHERE {at} <= {T}{only} GROUP BY member_id
),
er AS (
  SELECT DISTINCT item_id FROM (
    SELECT {d.explode('item_ids')} AS item_id FROM requests
    WHERE kind = {erase_items} AND {at} <= {T}{only}
  ) x WHERE item_id IS NOT NULL
){notice_cte},
mf AS (
  SELECT m.member_id, m.birth_date, m.joined_at, m.closed_at, m.is_member_i,
         (m.n_rows > 1 OR m.is_member_i IS NULL OR mi.member_id IS NOT NULL) AS malformed,
         rg.country IS NULL AS residence_unknown,
         CASE WHEN sb.strictness > COALESCE(rg.strictness, -1) THEN sb.country ELSE rg.country END AS jurisdiction,
         CASE WHEN sb.strictness > COALESCE(rg.strictness, -1) THEN sb.region_group ELSE rg.region_group END AS region_group,
         CASE WHEN sb.strictness > COALESCE(rg.strictness, -1) THEN sb.rule ELSE rg.rule END AS rule,
         CASE WHEN sb.strictness > COALESCE(rg.strictness, -1) THEN sb.legal_basis ELSE rg.legal_basis END AS legal_basis,
         COALESCE(ce.last_out IS NOT NULL AND (ce.last_in IS NULL OR ce.last_out >= ce.last_in), FALSE) AS opted_out,
         COALESCE(ce.last_in IS NOT NULL AND (ce.last_out IS NULL OR ce.last_in > ce.last_out), FALSE) AS opted_in,
         COALESCE(ce.last_object IS NOT NULL
                  AND (ce.last_withdraw IS NULL OR ce.last_object >= ce.last_withdraw), FALSE) AS objected,
         COALESCE(rq.erase_all = 1, FALSE) AS erase_all,
         {notified} AS notified
  FROM mem m
  LEFT JOIN geo rg ON rg.country = m.residence
  LEFT JOIN sig_best sb ON sb.member_id = m.member_id
  LEFT JOIN ce ON ce.member_id = m.member_id
  LEFT JOIN rq ON rq.member_id = m.member_id{notice_join}
  LEFT JOIN (SELECT DISTINCT member_id FROM member_issues{where}) mi ON mi.member_id = m.member_id
),
facts AS (
  SELECT member_id, {typed("jurisdiction", "jurisdiction")} AS jurisdiction,
      {typed("region_group", "region_group")} AS region_group,
      {typed("COALESCE(legal_basis, 'none')", "legal_basis")} AS legal_basis,
      {_mask(member_flags)} AS m_mask
  FROM mf
)"""
    return _Compiled(ctes, lookup, d, purpose, T, pack.label(version), types, where, missing_mask,
                     kind_bits, vis_bits, item_flags, active)

