"""Personal fields sealed per subject, subject keys, keyed audit checkpoints.

Adds `subject_keys` (one AES-256-GCM key per data subject; NULL once shredded),
`audit_checkpoints` (HMAC checkpoints of the chain head) and `ledger_meta` (the
ledger id bound into every checkpoint, and `checkpoints_from`: the seq up to which
links predate keyed checkpoints). Widens members.handle and members.birth_date to
text, adds redaction_names.subject_id, and seals the plain text already stored
IN THIS MIGRATION (not on first open): every member and non-member objection gets a
key, its personal fields are re-encrypted, and one "reseal" audit link per row
records the row's new payload hash, so the chain verifies before and after.

Revision ID: e19ledger_0002
Revises: 0001
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy import select, update

from consentry.ledger import sealing
from consentry.ledger.audit import payload_hash
from consentry.ledger.chain import PAYLOAD_FIELDS, RESEAL, TABLES, Chain, payload_of
from consentry.ledger.validate import derived_id

revision = "e19ledger_0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(256), primary_key=True),
        sa.Column("key", sa.LargeBinary()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("shredded_at", TS),
        sa.Column("seq", sa.BigInteger()),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "ledger_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    with op.batch_alter_table("members") as batch:
        batch.alter_column("handle", type_=sa.Text(), existing_type=sa.String(256))
        batch.alter_column("birth_date", type_=sa.Text(), existing_type=sa.Date(),
                           postgresql_using="to_char(birth_date, 'YYYY-MM-DD')")
    op.add_column("redaction_names", sa.Column("subject_id", sa.String(256)))
    conn = op.get_bind()
    _seal_existing(conn)
    with op.batch_alter_table("redaction_names") as batch:
        batch.alter_column("subject_id", nullable=False, existing_type=sa.String(256))
        batch.alter_column("name", nullable=True, existing_type=sa.Text())
    op.create_index("ix_redaction_names_subject_id", "redaction_names", ["subject_id"])


def _seal_existing(conn: sa.engine.Connection) -> None:
    now = datetime.now(UTC)
    chain = Chain(conn, now)
    members, names = TABLES["member"], TABLES["redaction_name"]
    names_plain = sa.table("redaction_names", sa.column("seq"), sa.column("client_request_id"))
    for seq, crid in conn.execute(select(names_plain.c.seq, names_plain.c.client_request_id)).all():
        conn.execute(update(names).where(names.c.seq == seq)
                     .values(subject_id=derived_id("nonmember", crid)))
    for table, kind, subject_col in ((members, "member", "member_id"), (names, "redaction_name", "subject_id")):
        cols = [table.c[f] for f in PAYLOAD_FIELDS[kind]]
        rows = [dict(r._mapping) for r in conn.execute(select(*cols).order_by(table.c.seq))]
        if not rows:
            continue
        keys = sealing.ensure(conn, [r[subject_col] for r in rows], now)
        personal = sealing.SEALED[table.name]
        for row in rows:
            subject = row[subject_col]
            sealed = keys.seal_row(table.name, subject, row)
            conn.execute(update(table).where(table.c.seq == row["seq"]).values({f: sealed[f] for f in personal}))
            chain.link_hashed(chain.reserve(), RESEAL, f"{kind}:{row['seq']}", payload_hash(payload_of(kind, sealed)))
    chain.flush()
    meta = sa.table("ledger_meta", sa.column("name"), sa.column("value"))
    conn.execute(meta.insert(), [{"name": "ledger_id", "value": uuid.uuid4().hex},
                                 {"name": "checkpoints_from", "value": str(chain.seq)}])


def downgrade() -> None:
    raise NotImplementedError("e19ledger_0002 cannot be downgraded: it would write sealed personal data back as "
                              "plain text (and shredded subjects cannot be decrypted at all)")
