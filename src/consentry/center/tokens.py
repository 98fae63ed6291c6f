"""Single use of sign-in links: one row per link id once it has been used.

Why a table of our own: the ledger is the record of consent, not of sessions, but
the used-link list must survive restarts and be shared by several server
processes, so it lives in the same database as the ledger (SQLite or PostgreSQL),
in one small table that holds no personal data (a random link id and a time).
The primary key makes "use" atomic: the second insert of the same id fails.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()
used_links = Table(
    "center_used_links",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("used_at", DateTime(timezone=True), nullable=False),
)


class UsedLinks:
    def __init__(self, url: str | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else create_engine(url)
        metadata.create_all(self.engine)

    def use(self, jti: str) -> bool:
        """Mark link `jti` used; False when it already was (the link is then refused)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(used_links).values(jti=jti, used_at=datetime.now(UTC)))
        except IntegrityError:
            return False
        return True
