"""The Alembic migrations create exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consentry.ledger import Ledger
from consentry.ledger.migrate import head_revision
from consentry.ledger.models import Base


def test_migrations_match_models(ledger: Ledger) -> None:
    assert ledger.schema_revision() == head_revision()
    with ledger._rengine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
