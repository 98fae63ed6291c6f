"""Alembic environment for the ledger, run programmatically by `consentry.ledger.migrate`.

The caller hands over an open connection (config.attributes["connection"]) so the
upgrade runs inside the ledger's own transaction and lock, on whichever backend and
schema (PostgreSQL search_path) that connection points at; no alembic.ini is needed.
"""

from __future__ import annotations

from alembic import context

from consentry.ledger.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
