"""Which export tables and columns a decision needs, per pack rule: the one declaration.

Missing is unknown, and unknown is excluded: a table or column the plan reads that the
export did not give must never read as "nothing there" (a missing consent table is not
"no opt-outs", a missing birth_date is not "nobody is a minor"). Staging records what
the export lacked (`missing_inputs`: an absent table, a column absent from a file or of
a type that cannot be read) without knowing the pack; before the plan runs, `check`
compares that with what the pack version in force at T needs for the purpose and stops
the run with one line naming the file and the column (`MissingInputError`).

Required always: members and items (staging refuses an export without them) and their
decision columns, and `requests` (erasure). Required by a rule: `birth_date` (an age
rule), `group_sensitive` (excluding sensitive groups), `consent_events` (an opt-out,
opt-in or objection rule), `notices` (a notice period: a missing table could only
exclude, but it would exclude everyone, so the run stops), `signins` (groups with
different rules, where a sign-in country can make the jurisdiction stricter). Never
read by the plan, so absent means empty: the free-text columns, `jobs`,
`job_interactions`. The README's "Damaged exports fail closed" table says the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.network.reader import ExportError
from consentry.policy.packs import Pack, PackVersion, PurposePolicy, as_utc
from consentry.vocab import Purpose, Rule

if TYPE_CHECKING:
    import duckdb


class MissingInputError(ExportError):
    """A table or column the pack's rules need is absent or unreadable; the message is one
    line naming the file, the column and the rule that needs it."""


@dataclass(frozen=True)
class Need:
    """Columns of a table (the table itself when none) that a decision needs `when` the
    pack version and purpose policy say so; `why` names the rule for the error line."""

    table: str
    columns: tuple[str, ...]
    when: Callable[[PackVersion, PurposePolicy], bool]
    why: str


def _always(v: PackVersion, p: PurposePolicy) -> bool:
    return True


def _reads_choices(v: PackVersion, p: PurposePolicy) -> bool:
    return p.honour_objection or any(gr.rule in (Rule.OPT_OUT, Rule.OPT_IN) for gr in p.rules.values())


def _reads_signins(v: PackVersion, p: PurposePolicy) -> bool:
    """A sign-in country can only change the outcome when groups differ in their rule (a
    group without a rule of its own takes rest_of_world's, which is among these)."""
    return len({gr.rule for gr in p.rules.values()}) > 1


NEEDS: tuple[Need, ...] = (
    Need("members", ("member_id", "residence_country", "is_member", "joined_at", "closed_at"), _always,
         "every decision reads the member's residence, membership and account dates"),
    Need("members", ("birth_date",), lambda v, p: v.min_age is not None or v.exclude_unknown_age,
         "the pack's age rule (min_age / exclude_unknown_age) reads it"),
    Need("items", ("item_id", "member_id", "kind", "visibility", "created_at", "deleted_at"), _always,
         "every decision reads the item's kind, visibility and dates"),
    Need("items", ("group_sensitive",), lambda v, p: v.exclude_sensitive_groups,
         "the pack excludes sensitive groups"),
    Need("consent_events", ("member_id", "purpose", "choice", "source", "at"), _reads_choices,
         "the purpose's opt-out / opt-in / objection rules read members' choices "
         "(a missing table is not 'no opt-outs')"),
    Need("requests", ("member_id", "kind", "item_ids", "at"), _always,
         "erasure requests exclude data (a missing table is not 'no requests')"),
    Need("notices", ("member_id", "delivered_at"), lambda v, p: v.notice_period_days is not None,
         "the pack requires a notice before use"),
    Need("signins", ("member_id", "ip", "at"), _reads_signins,
         "a sign-in country can make the jurisdiction stricter under this purpose's rules"),
)


def needs(pack: Pack, purpose: Purpose | str, as_of: dt.datetime | dt.date | str) -> list[Need]:
    """The needs that apply to a decision (none beyond members and items when no version
    or purpose policy is in force: then nothing is allowed anyway)."""
    version = pack.version_at(as_utc(as_of))
    policy = version.purposes.get(Purpose(purpose)) if version else None
    if version is None or policy is None:
        return [n for n in NEEDS if n.when is _always and n.table in ("members", "items")]
    return [n for n in NEEDS if n.when(version, policy)]


def problems(missing: Iterable[dict], pack: Pack, purpose: Purpose | str,
             as_of: dt.datetime | dt.date | str) -> list[str]:
    """One line per needed table or column in `missing` (`schema.MISSING_INPUTS` rows)."""
    label = pack.label(pack.version_at(as_utc(as_of)))
    out = []
    rows = list(missing)
    for need in needs(pack, purpose, as_of):
        for m in rows:
            if m["table"] != need.table or (m["column"] is not None and m["column"] not in need.columns):
                continue
            what = f"table {m['table']}" if m["column"] is None else f"{m['file']}: column {m['column']}"
            out.append(f"{what} is {m['problem']}; {label} needs it for {Purpose(purpose).value} "
                       f"because {need.why}")
    return out


def check(missing: Iterable[dict], pack: Pack, purpose: Purpose | str,
          as_of: dt.datetime | dt.date | str) -> None:
    """Raise MissingInputError (the first problem, and how many more) when the export
    lacks anything the decision needs."""
    found = problems(missing, pack, purpose, as_of)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise MissingInputError(found[0] + more)


def missing_in(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """What a connection's export lacks: the `missing_inputs` rows when its views come from
    a staged export; otherwise (tables registered in memory, or read raw) every table a
    need names that is not registered at all."""
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "missing_inputs" in names:
        return con.sql('SELECT "table", file, "column", problem FROM missing_inputs').to_arrow_table().to_pylist()
    return [{"table": t, "file": None, "column": None, "problem": "absent (not registered)"}
            for t in dict.fromkeys(n.table for n in NEEDS) if t not in names]


def missing_from(tables: Mapping[str, Path]) -> list[dict]:
    """The `missing_inputs` rows of a staged export given as table -> Parquet path (what
    an engine that registers its own views holds); none without that table."""
    import pyarrow.parquet as pq

    path = tables.get("missing_inputs")
    return pq.read_table(path).to_pylist() if path is not None and Path(path).is_file() else []
