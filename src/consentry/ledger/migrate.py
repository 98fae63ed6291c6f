"""Schema migrations, run programmatically (no alembic.ini at the repository root).

The ledger ships its Alembic scripts inside the package, so an installed consentry
can create or upgrade any ledger URL with `Ledger.create()` or `consentry ledger init`.
"""

from __future__ import annotations

import logging
from pathlib import Path


def quiet_alembic() -> None:
    """Only Alembic's warnings: its INFO lines ("Context impl SQLiteImpl", "Will assume
    transactional DDL", one per revision) would greet every `consentry serve` once the
    root logger is at INFO. They start at import (plugin set-up), hence before the
    imports below. A level set explicitly (`serve -v`) is kept."""
    log = logging.getLogger("alembic")
    if log.level == logging.NOTSET:
        log.setLevel(logging.WARNING)


quiet_alembic()

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the schema behind `connection` to `revision` (inside its transaction)."""
    command.upgrade(alembic_config(connection), revision)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
