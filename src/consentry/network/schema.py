"""The platform export contract (DESIGN.md) as declared Arrow schemas.

Readers cast every table to these schemas; rows that do not fit go to quarantine.
Tables marked optional may be absent from an export (staging records the absence in
`missing_inputs`; whether a decision may go on without them is the pack's to say). `jobs` and `job_interactions`
are optional extensions used by the job matcher.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

MEMBERS = pa.schema(
    [
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("display_name", pa.string()),
        pa.field("residence_country", pa.string()),
        pa.field("birth_date", pa.date32()),
        pa.field("joined_at", TS),
        pa.field("closed_at", TS),
        pa.field("is_member", pa.bool_()),
        pa.field("handle", pa.string()),
    ]
)

ITEMS = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("visibility", pa.string(), nullable=False),
        pa.field("created_at", TS, nullable=False),
        pa.field("deleted_at", TS),
        pa.field("text", pa.string()),
        pa.field("mentions", pa.list_(pa.string())),
        pa.field("group_sensitive", pa.bool_()),
    ]
)

SIGNINS = pa.schema(
    [
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("ip", pa.string(), nullable=False),
        pa.field("at", TS, nullable=False),
    ]
)

CONSENT_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("purpose", pa.string(), nullable=False),
        pa.field("choice", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("notice_version", pa.string()),
        pa.field("at", TS, nullable=False),
    ]
)

REQUESTS = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("item_ids", pa.list_(pa.string())),
        pa.field("at", TS, nullable=False),
    ]
)

NOTICES = pa.schema(
    [
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("notice_version", pa.string(), nullable=False),
        pa.field("delivered_at", TS, nullable=False),
    ]
)

JOBS = pa.schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("country", pa.string()),
        pa.field("posted_at", TS, nullable=False),
    ]
)

JOB_INTERACTIONS = pa.schema(
    [
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),  # view | save | apply
        pa.field("at", TS, nullable=False),
    ]
)

EXPORT_TABLES: dict[str, pa.Schema] = {
    "members": MEMBERS,
    "items": ITEMS,
    "signins": SIGNINS,
    "consent_events": CONSENT_EVENTS,
    "requests": REQUESTS,
    "notices": NOTICES,
    "jobs": JOBS,
    "job_interactions": JOB_INTERACTIONS,
}
"""The tables a platform export holds (read from NAME.parquet / NAME.jsonl / NAME/)."""

MISSING_INPUTS = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("file", pa.string()),  # relative to the export; null: the table has no file
        pa.field("column", pa.string()),  # null: the whole table is absent
        pa.field("problem", pa.string(), nullable=False),
    ]
)
"""What the export did not give: an absent table, or a column absent from (or of a type
that cannot be read as the declared one in) a file. Staging records it without knowing
the pack; `policy.requirements` decides, per pack rule, whether the run may go on."""

MEMBER_ISSUES = pa.schema(
    [
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("error", pa.string(), nullable=False),
    ]
)
"""Members about whom a row was quarantined in a table whose loss could widen what may
train (contradictory member rows, an unreadable opt-out, erasure request or sign-in):
the plan excludes every item of such a member as `malformed`."""

DERIVED_TABLES: dict[str, pa.Schema] = {"missing_inputs": MISSING_INPUTS, "member_issues": MEMBER_ISSUES}
"""Tables staging writes about the export (never read from it)."""

TABLES: dict[str, pa.Schema] = {**EXPORT_TABLES, **DERIVED_TABLES}
"""Every table of a staged export, each a view the plan may read."""

REQUIRED_TABLES: tuple[str, ...] = ("members", "items")
"""Without these no export can be staged; which other tables a decision needs depends on
the pack's rules (`policy.requirements`)."""
OPTIONAL_TABLES: tuple[str, ...] = tuple(t for t in EXPORT_TABLES if t not in REQUIRED_TABLES)

MEMBER_TABLES: tuple[str, ...] = ("members", "signins", "consent_events", "requests")
"""Tables where a quarantined row of a member leaves what the plan knows about that
member in doubt in the direction that would allow more (a lost opt-out, erasure request,
sign-in country or member row); `MEMBER_ISSUES` lists those members."""

QUARANTINE = pa.schema(
    [
        pa.field("table", pa.string()),
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("error", pa.string()),
        pa.field("raw", pa.string()),
    ]
)
