"""The platform export contract (DESIGN.md) as declared Arrow schemas.

Readers cast every table to these schemas; rows that do not fit go to quarantine.
Tables marked optional may be absent from an export. `jobs` and `job_interactions`
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

TABLES: dict[str, pa.Schema] = {
    "members": MEMBERS,
    "items": ITEMS,
    "signins": SIGNINS,
    "consent_events": CONSENT_EVENTS,
    "requests": REQUESTS,
    "notices": NOTICES,
    "jobs": JOBS,
    "job_interactions": JOB_INTERACTIONS,
}

REQUIRED_TABLES: tuple[str, ...] = ("members", "items")
OPTIONAL_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t not in REQUIRED_TABLES)

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
