"""Privacy center tables: server-side sessions and non-member objections held for an admin.

Revision ID: e19web_0001_center
Revises: e19ledger_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)

revision = "e19web_0001_center"
down_revision = "e19ledger_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "center_sessions",
        sa.Column("sid_hash", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(160)),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_center_sessions_owner", "center_sessions", ["owner"])
    op.create_index("ix_center_sessions_expires_at", "center_sessions", ["expires_at"])
    op.create_table(
        "center_objections",
        sa.Column("objection_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text()),
        sa.Column("contact", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("decided_at", TS),
        sa.Column("client_request_id", sa.String(256), nullable=False, unique=True),
    )
    op.create_index("ix_center_objections_status", "center_objections", ["status"])


def downgrade() -> None:
    op.drop_table("center_objections")
    op.drop_table("center_sessions")
