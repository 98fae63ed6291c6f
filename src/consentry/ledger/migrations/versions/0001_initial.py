"""Initial ledger schema: members, consent events, requests and their log, notices,
non-member redaction names, and the audit chain.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.Text()),
        sa.Column("handle", sa.String(256)),
        sa.Column("residence_country", sa.String(8)),
        sa.Column("birth_date", sa.Date()),
        sa.Column("is_member", sa.Boolean()),
        sa.Column("joined_at", TS),
        sa.Column("closed_at", TS),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "consent_events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("choice", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("notice_version", sa.String(128)),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_request_id", sa.String(256), nullable=False, unique=True),
        sa.Column("legal_basis", sa.String(64)),
        sa.Column("jurisdiction", sa.String(16)),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_consent_events_member_id", "consent_events", ["member_id"])
    op.create_index("ix_consent_events_at", "consent_events", ["at"])
    op.create_table(
        "requests",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("item_ids", sa.JSON()),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_request_id", sa.String(256), nullable=False, unique=True),
        sa.Column("deadline", TS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("processed_at", TS),
        sa.Column("result", sa.JSON()),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_requests_member_id", "requests", ["member_id"])
    op.create_index("ix_requests_status", "requests", ["status"])
    op.create_table(
        "request_log",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(128), sa.ForeignKey("requests.request_id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON()),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_request_id", sa.String(256), nullable=False, unique=True),
    )
    op.create_index("ix_request_log_request_id", "request_log", ["request_id"])
    op.create_table(
        "notices",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("notice_version", sa.String(128), nullable=False),
        sa.Column("delivered_at", TS, nullable=False),
        sa.Column("client_request_id", sa.String(256), nullable=False, unique=True),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_notices_member_id", "notices", ["member_id"])
    op.create_table(
        "redaction_names",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text()),
        sa.Column("purposes", sa.JSON()),
        sa.Column("at", TS, nullable=False),
        sa.Column("client_request_id", sa.String(256), nullable=False, unique=True),
    )
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(256), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_audit_chain_kind_ref", "audit_chain", ["kind", "ref"])


def downgrade() -> None:
    for name in ("audit_chain", "redaction_names", "notices", "request_log", "requests",
                 "consent_events", "members"):
        op.drop_table(name)
