"""Why an item or a member's data may or may not be used: the decision, in plain words.

Invariant 3 says every decision is explainable. The explanation is computed from the
same inputs and the same plan as the decision (the item's row comes from
`decide`), plus the facts behind it: the pack version in force, how the
jurisdiction was resolved (residence, or which sign-in country / IP / date, and
whether that address is a datacenter or VPN), the consent events that mattered
(and those after T that did not count yet), the member's age, requests and notices.
The privacy center renders the structure; `consentry explain` prints `.text()`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from consentry.policy.decide import decide, decide_members, ensure_inputs
from consentry.policy.jurisdiction import resolve_ips
from consentry.policy.packs import Pack, PackVersion, as_utc, load_pack
from consentry.policy.plan import Dialect
from consentry.vocab import Choice, Purpose, Reason, Rule

REASON_TEXT: dict[str, str] = {
    Reason.REGION_PROHIBITED: "the pack prohibits this use in the member's jurisdiction ({jurisdiction}, group {region_group})",
    Reason.OPTED_OUT: "the member opted out ({opt_out_at}), and has not opted back in since",
    Reason.NO_OPT_IN: "this use needs the member's opt-in (consent), and there is none in force",
    Reason.OBJECTED: "the member objected ({object_at}) and has not withdrawn the objection",
    Reason.MINOR: "the member is under {min_age} at this date (age {age})",
    Reason.AGE_UNKNOWN: "the member's birth date is unknown, and this pack excludes unknown ages",
    Reason.KIND_EXCLUDED: "content of this kind ({kind}) is never used under this pack",
    Reason.NOT_PUBLIC: "only {visibilities} content is used, and this item is {visibility}",
    Reason.SENSITIVE_GROUP: "the item belongs to a sensitive group (or it is unknown whether it does)",
    Reason.ERASED: "the member asked for this data to be erased ({erase_at})",
    Reason.DELETED: "the item was deleted ({deleted_at})",
    Reason.ACCOUNT_CLOSED: "the member's account was closed ({closed_at})",
    Reason.NOT_YET_CREATED: "the item (or the account) did not exist yet at this date",
    Reason.NOT_NOTIFIED: "the member was not notified at least {notice_days} days before this date",
    Reason.NO_POLICY_IN_FORCE: "no version of the pack was in force at this date, so nothing is allowed",
    Reason.UNKNOWN_JURISDICTION: "the member's country of residence is missing or not a known country code",
    Reason.NON_MEMBER: "the person is not a member (known only through mentions or an objection)",
    Reason.MALFORMED: "the record is incomplete or inconsistent (e.g. its member is missing), so it is not used",
}

REASON_SHORT: dict[str, str] = {
    Reason.REGION_PROHIBITED: "prohibited in the member's jurisdiction",
    Reason.OPTED_OUT: "the member opted out",
    Reason.NO_OPT_IN: "no opt-in (consent) in force",
    Reason.OBJECTED: "the member objected",
    Reason.MINOR: "the member is a minor",
    Reason.AGE_UNKNOWN: "unknown birth date",
    Reason.KIND_EXCLUDED: "content kind never used",
    Reason.NOT_PUBLIC: "not public",
    Reason.SENSITIVE_GROUP: "sensitive group",
    Reason.ERASED: "erasure requested",
    Reason.DELETED: "deleted",
    Reason.ACCOUNT_CLOSED: "account closed",
    Reason.NOT_YET_CREATED: "did not exist yet",
    Reason.NOT_NOTIFIED: "not notified in time",
    Reason.NO_POLICY_IN_FORCE: "no pack version in force",
    Reason.UNKNOWN_JURISDICTION: "unknown country of residence",
    Reason.NON_MEMBER: "not a member",
    Reason.MALFORMED: "incomplete or inconsistent record",
}


@dataclass
class SignIn:
    at: dt.datetime
    ip: str
    country: str | None
    is_datacenter: bool | None
    counted: bool  # inside the look-back window, at or before T, with a known country


@dataclass
class Jurisdiction:
    country: str | None
    region_group: str | None
    resolved_from: str  # "residence", "sign-in" or "unknown"
    residence: str | None
    lookback_days: int | None
    signins: list[SignIn] = field(default_factory=list)
    deciding_signin: SignIn | None = None

    def text(self) -> str:
        if self.country is None:
            return f"unknown (residence {self.residence!r} is not a known country, and no sign-in decides)"
        if self.resolved_from == "residence":
            s = f"{self.country} ({self.region_group}), from the country of residence"
        else:
            si = self.deciding_signin
            via = " through a datacenter/VPN address" if si and si.is_datacenter else ""
            s = (
                f"{self.country} ({self.region_group}), from a sign-in"
                + (f" on {si.at:%Y-%m-%d} from {si.ip}{via}" if si else "")
                + f" within the last {self.lookback_days} days: more protective than the residence"
                f" ({self.residence})"
            )
        return s


@dataclass
class Event:
    at: dt.datetime
    purpose: str
    choice: str
    source: str
    counted: bool
    note: str = ""


@dataclass
class PurposeExplanation:
    purpose: str
    rule: str | None
    legal_basis: str
    events: list[Event]
    items: int
    allowed: int
    reasons: dict[str, int]
    used: bool = False
    """The member-level decision (what the privacy center and the API say): no reason of
    the member excludes their data; an item is then allowed unless a reason of its own applies."""
    member_reasons: list[str] = field(default_factory=list)

    def text(self) -> str:
        verdict = "used" if self.used else "not used (" + ", ".join(self.member_reasons) + ")"
        lines = [f"  {self.purpose}: rule {self.rule or '-'} (legal basis {self.legal_basis});"
                 f" the member's data is {verdict}; {self.allowed} of {self.items} items allowed"]
        for r, n in self.reasons.items():
            lines.append(f"    - {n} excluded: {r}: {REASON_SHORT[Reason(r)]}")
        for e in self.events:
            mark = "" if e.counted else " [not counted]"
            lines.append(f"    event {e.at:%Y-%m-%d %H:%M} {e.choice} via {e.source}{mark}{e.note}")
        return "\n".join(lines)


@dataclass
class MemberExplanation:
    member_id: str
    as_of: dt.datetime
    pack: str
    version: str | None
    effective_from: dt.date | None
    version_note: str
    found: bool
    residence: str | None
    birth_date: dt.date | None
    age: int | None
    is_member: bool | None
    closed_at: dt.datetime | None
    jurisdiction: Jurisdiction
    purposes: list[PurposeExplanation]
    requests: list[dict[str, Any]]
    notices: list[dict[str, Any]]
    issues: list[str] = field(default_factory=list)
    """Why the member's rows were quarantined (staging's `member_issues`: "file row N: field: error")."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        head = [f"Member {self.member_id}, as of {self.as_of:%Y-%m-%d %H:%M} UTC, pack {self.pack}"]
        if self.version is None:
            head.append("  No version of the pack was in force at this date: nothing is allowed.")
        else:
            head.append(f"  Version {self.version} in force since {self.effective_from} ({self.version_note})")
        if self.issues:  # the real reason, not "no record": the rows exist but contradict or cannot be read
            head += [f"  Member record malformed ({e}): every item is excluded as malformed." for e in self.issues]
        elif not self.found:
            head.append("  No member record: every item is excluded as malformed.")
        head.append(f"  Jurisdiction: {self.jurisdiction.text()}")
        age = "unknown birth date" if self.birth_date is None else f"age {self.age} (born {self.birth_date})"
        head.append(f"  Age: {age}")
        if self.is_member is False:
            head.append("  Not a member.")
        if self.closed_at:
            head.append(f"  Account closed {self.closed_at:%Y-%m-%d}")
        for r in self.requests:
            head.append(f"  Request {r['kind']} at {r['at']:%Y-%m-%d}" + ("" if r["counted"] else " [after T]"))
        for n in self.notices:
            head.append(f"  Notice {n['notice_version']} delivered {n['delivered_at']:%Y-%m-%d}")
        return "\n".join(head + [p.text() for p in self.purposes])


@dataclass
class ItemExplanation:
    item_id: str
    purpose: str
    allowed: bool
    reasons: list[str]
    explained: list[str]
    decision: dict[str, Any]
    item: dict[str, Any] | None
    member: MemberExplanation | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        d = self.decision
        verdict = "MAY be used" if self.allowed else "may NOT be used"
        lines = [
            f"Item {self.item_id} {verdict} for {self.purpose} as of {d['as_of']:%Y-%m-%d %H:%M} UTC"
            f" (pack {d['pack']}, jurisdiction {d['jurisdiction'] or 'unknown'},"
            f" legal basis {d['legal_basis']})"
        ]
        if self.item:
            lines.append(f"  kind {self.item['kind']}, visibility {self.item['visibility']},"
                         f" created {_fmt(self.item['created_at'])}")
        lines += [f"  because {e}" for e in self.explained]
        if self.member:
            lines.append(self.member.text())
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return v.strftime("%Y-%m-%d") if isinstance(v, (dt.date, dt.datetime)) else str(v)


def connect(source: duckdb.DuckDBPyConnection | Mapping[str, pa.Table] | Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the plan's views, from a connection, an Export or tables."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source
    tables = getattr(source, "tables", source)
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _age(birth: dt.date | None, t: dt.datetime) -> int | None:
    if birth is None:
        return None
    d = t.date()
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


def _jurisdiction(
    con: duckdb.DuckDBPyConnection, version: PackVersion | None, purpose: Purpose, member_id: str,
    residence: str | None, t: dt.datetime, decision: dict[str, Any] | None,
) -> Jurisdiction:
    lookback = version.signin_lookback_days if version else None
    rows = _rows(con, f'SELECT "at", ip FROM signins WHERE member_id = {_q(member_id)} ORDER BY "at"')
    geo = {r["ip"]: r for r in resolve_ips([r["ip"] for r in rows]).to_pylist()}
    lo = t - dt.timedelta(days=lookback) if lookback is not None else t
    signins = []
    for r in rows:
        g = geo.get((r["ip"] or "").strip(), {})
        counted = version is not None and lo <= r["at"] <= t and g.get("country") is not None
        signins.append(SignIn(r["at"], r["ip"], g.get("country"), g.get("is_datacenter"), counted))
    country = decision["jurisdiction"] if decision else None
    group = decision["region_group"] if decision else None
    res = (residence or "").strip().upper() or None
    if country is None:
        src = "unknown"
    elif country == res:
        src = "residence"
    else:
        src = "sign-in"
    deciding = next((s for s in reversed(signins) if s.counted and s.country == country), None)
    if src == "sign-in" and deciding is None:
        src = "residence"
    return Jurisdiction(country, group, src, residence, lookback, [s for s in signins if s.at <= t],
                        deciding if src == "sign-in" else None)


def explain_member(
    con_or_export: Any,
    pack: Pack | str,
    member_id: str,
    as_of: dt.datetime | dt.date | str,
    purpose: Purpose | str | None = None,
) -> MemberExplanation:
    """Everything that decided what may be done with one member's data at T."""
    con = connect(con_or_export)
    ensure_inputs(con)
    pack = load_pack(pack) if isinstance(pack, str) else pack
    t = as_utc(as_of)
    version = pack.version_at(t)
    purposes = [Purpose(purpose)] if purpose else list(Purpose)
    m = _rows(con, f"SELECT * FROM members WHERE member_id = {_q(member_id)}")
    member = m[0] if m else {}
    pexpl = []
    first_decision = None
    for p in purposes:
        rows = decide(con, pack, p, t, member_id=member_id).to_arrow_table().to_pylist()
        mrow = (decide_members(con, pack, p, t, member_id=member_id).to_arrow_table().to_pylist() or [None])[0]
        first_decision = first_decision or (rows[0] if rows else mrow)
        rule = None
        if rows and version and rows[0]["region_group"] and p in version.purposes:
            gr = version.rule_for(p, rows[0]["region_group"])
            rule = gr.rule.value if gr else None
        counts = Counter(r for row in rows for r in row["reasons"])
        pexpl.append(PurposeExplanation(
            purpose=p.value, rule=rule, legal_basis=rows[0]["legal_basis"] if rows else "none",
            events=_events(con, version, p, member_id, t), items=len(rows),
            allowed=sum(1 for r in rows if r["allowed"]),
            reasons={r.value: counts[r.value] for r in Reason if counts[r.value]},
            used=bool(mrow and mrow["used"]),
            member_reasons=list(mrow["reasons"]) if mrow else [Reason.MALFORMED.value],
        ))
    residence = member.get("residence_country")
    jur = _jurisdiction(con, version, purposes[0], member_id, residence, t, first_decision)
    reqs = _rows(con, f'SELECT kind, item_ids, "at" FROM requests WHERE member_id = {_q(member_id)} ORDER BY "at"')
    for r in reqs:
        r["counted"] = r["at"] <= t
    notices = _rows(con, f"SELECT notice_version, delivered_at FROM notices WHERE member_id = {_q(member_id)}"
                         f" AND delivered_at <= {Dialect('duckdb').ts(t)} ORDER BY delivered_at")
    return MemberExplanation(
        member_id=member_id, as_of=t, pack=pack.label(version), version=version.version if version else None,
        effective_from=version.effective_from if version else None,
        version_note=version.note if version else "", found=bool(member), residence=residence,
        birth_date=member.get("birth_date"), age=_age(member.get("birth_date"), t),
        is_member=member.get("is_member"), closed_at=member.get("closed_at"), jurisdiction=jur,
        purposes=pexpl, requests=reqs, notices=notices, issues=member_issues(con, member_id),
    )


def _events(con, version: PackVersion | None, purpose: Purpose, member_id: str, t: dt.datetime) -> list[Event]:
    pol = version.purposes.get(purpose) if version else None
    rows = _rows(con, f'SELECT choice, source, "at" FROM consent_events WHERE member_id = {_q(member_id)}'
                      f" AND purpose = {_q(purpose.value)} ORDER BY \"at\"")
    out = []
    for r in rows:
        counted, note = r["at"] <= t, ""
        if not counted:
            note = " (after T)"
        elif pol is not None and not pol.honour_gpc and r["source"] == "gpc":
            counted, note = False, " (GPC signals do not apply to this purpose under this pack)"
        elif pol is not None and not pol.honour_objection and r["choice"] in (Choice.OBJECT, Choice.WITHDRAW_OBJECTION):
            counted, note = False, f" (objections are not honoured for this purpose under this pack: {pol.objection_reason})"
        elif pol is not None and r["choice"] in (Choice.OPT_IN, Choice.OPT_OUT) and all(
            g.rule is Rule.ALLOWED for g in pol.rules.values()
        ):
            counted, note = False, " (no choice applies to this purpose)"
        out.append(Event(r["at"], purpose.value, r["choice"], r["source"], counted, note))
    return out


def explain_item(
    con_or_export: Any,
    pack: Pack | str,
    item_id: str,
    as_of: dt.datetime | dt.date | str,
    purpose: Purpose | str = Purpose.GENAI_TRAINING,
) -> ItemExplanation:
    """One item's decision for one purpose, each reason in plain words, with its member."""
    con = connect(con_or_export)
    ensure_inputs(con)
    pack = load_pack(pack) if isinstance(pack, str) else pack
    t = as_utc(as_of)
    version = pack.version_at(t)
    purpose = Purpose(purpose)
    rows = decide(con, pack, purpose, t).filter(f"item_id = {_q(item_id)}").to_arrow_table().to_pylist()
    if not rows:
        raise KeyError(f"no item {item_id!r} in the export")
    d = rows[0]
    item = (_rows(con, f"SELECT * FROM items WHERE item_id = {_q(item_id)}") or [None])[0]
    member = explain_member(con, pack, d["member_id"], t, purpose) if d["member_id"] is not None else None
    ctx = _context(d, item, member, version, purpose)
    explained = [f"{r}: " + REASON_TEXT[Reason(r)].format_map(_Default(ctx)) for r in d["reasons"]]
    if d["allowed"]:
        explained = [f"no reason applies: {d['legal_basis']} in {d['jurisdiction']} ({d['region_group']})"]
    return ItemExplanation(item_id, purpose.value, d["allowed"], list(d["reasons"]), explained, d, item, member)


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _context(d, item, member: MemberExplanation | None, version, purpose: Purpose) -> dict[str, Any]:
    ctx: dict[str, Any] = {"jurisdiction": d["jurisdiction"], "region_group": d["region_group"]}
    if item:
        ctx.update(kind=item["kind"], visibility=item["visibility"], deleted_at=_fmt(item["deleted_at"]))
    if version:
        ctx.update(min_age=version.min_age, notice_days=version.notice_period_days,
                   visibilities="/".join(v.value for v in version.visibilities_for(purpose)))
    if member:
        ctx.update(age=member.age, closed_at=_fmt(member.closed_at))
        ev = member.purposes[0].events if member.purposes else []
        last = {e.choice: e.at for e in ev if e.counted}
        ctx.update(opt_out_at=_fmt(last.get("opt_out")), object_at=_fmt(last.get("object")))
        erase = [r["at"] for r in member.requests if r["counted"] and r["kind"].startswith("erase")]
        ctx.update(erase_at=_fmt(erase[-1]) if erase else "?")
    return ctx


def member_issues(con: duckdb.DuckDBPyConnection, member_id: str) -> list[str]:
    """What staging quarantined about the member (`member_issues`: contradictory or unreadable
    rows), as "table: file row N: field: error"; empty when the export has no such table."""
    from consentry.policy.decide import existing_relations

    if "member_issues" not in existing_relations(con):
        return []
    rows = _rows(con, f'SELECT "table", error FROM member_issues WHERE member_id = {_q(member_id)} ORDER BY 1, 2')
    return [f"{r['table']}: {r['error']}" for r in rows]
