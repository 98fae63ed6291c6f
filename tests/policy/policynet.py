"""A tiny platform export built row by row, registered in DuckDB, decided by the plan.

Tests describe only what matters to a rule (a member's residence, one item, a few
events); every other column gets a plain valid default.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from consentry.network.schema import TABLES
from consentry.policy.decide import decide
from consentry.policy.packs import Pack, as_utc, load_pack

UTC = dt.UTC
GERMAN_IP = "85.214.132.117"  # Strato, Berlin: iptocc → DE, not a datacenter range
GERMAN_DC_IP = "46.4.0.1"  # Hetzner: iptocc → DE, iporigin → hosting
US_IP = "8.8.4.4"


def ts(s: str) -> dt.datetime:
    return as_utc(s)


@dataclass
class Net:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    _ids: itertools.count = field(default_factory=itertools.count)

    def member(self, member_id: str = "m1", **kw: Any) -> str:
        row = dict(
            member_id=member_id,
            display_name=f"Member {member_id}",
            residence_country="US",
            birth_date=dt.date(1990, 5, 17),
            joined_at=ts("2015-01-01"),
            closed_at=None,
            is_member=True,
        )
        row.update(kw)
        self.rows["members"].append(row)
        return member_id

    def item(self, member_id: str = "m1", item_id: str | None = None, **kw: Any) -> str:
        item_id = item_id or f"i{next(self._ids)}"
        row = dict(
            item_id=item_id,
            member_id=member_id,
            kind="post",
            visibility="public",
            created_at=ts("2020-01-01"),
            deleted_at=None,
            text="Hello network",
            mentions=[],
            group_sensitive=False,
        )
        row.update(kw)
        self.rows["items"].append(row)
        return item_id

    def signin(self, member_id: str, ip: str, at: str) -> None:
        self.rows["signins"].append(dict(member_id=member_id, ip=ip, at=ts(at)))

    def event(self, member_id: str, purpose: str, choice: str, at: str, source: str = "settings") -> None:
        self.rows["consent_events"].append(
            dict(
                event_id=f"e{next(self._ids)}",
                member_id=member_id,
                purpose=purpose,
                choice=choice,
                source=source,
                notice_version=None,
                at=ts(at),
            )
        )

    def request(self, member_id: str, kind: str, at: str, item_ids: list[str] | None = None) -> None:
        self.rows["requests"].append(
            dict(request_id=f"r{next(self._ids)}", member_id=member_id, kind=kind, item_ids=item_ids, at=ts(at))
        )

    def notice(self, member_id: str, delivered_at: str, version: str = "v1") -> None:
        self.rows["notices"].append(dict(member_id=member_id, notice_version=version, delivered_at=ts(delivered_at)))

    def tables(self) -> dict[str, pa.Table]:
        return {
            name: pa.Table.from_pylist(rows, schema=TABLES[name])
            for name, rows in self.rows.items()
            if name in ("members", "items", "signins", "consent_events", "requests", "notices")
        }

    def connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET threads=1")  # tiny inputs: no gain from threads on a shared machine
        for name, table in self.tables().items():
            con.register(name, table)
        return con

    def decide(self, pack: str | Pack, purpose: str, as_of: str) -> dict[str, dict[str, Any]]:
        """Decisions keyed by item_id (asserting each item appears exactly once)."""
        pack = load_pack(pack) if isinstance(pack, str) else pack
        con = self.connect()
        rows = decide(con, pack, purpose, as_of).to_arrow_table().to_pylist()
        by_id = {r["item_id"]: r for r in rows}
        assert len(by_id) == len(rows) == len(self.rows["items"])
        return by_id

