"""Thin adapters over what the center reads: the ledger, the export, snapshots, models.

Why one module: the center must hold no state of its own, and the modules it reads
are built in parallel; every read goes through here, so when a module grows a
richer API only this file changes. Member-scoped reads always take the member id
from the caller (the session), never from a request parameter. Files are read by
the DESIGN.md layout (`snapshots/<purpose>/<version>/lineage.parquet`, the model
registry's `registry.json`), with DuckDB filtering by member id so a large export
is never loaded whole.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from consentry.ledger.store import Ledger
from consentry.settings import Settings

log = logging.getLogger("consentry.center")


def plain(obj: Any) -> Any:
    """JSON-ready values from records, dates and nested containers."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [plain(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).isoformat().replace("+00:00", "Z") if obj.tzinfo else obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    return obj


def export_file(network: Path, table: str) -> Path | None:
    """The export's file for `table` (`NAME.parquet` or `NAME.jsonl`), if any."""
    for suffix in (".parquet", ".jsonl"):
        p = network / f"{table}{suffix}"
        if p.exists():
            return p
    return None


def _reader(path: Path) -> str:
    fn = "read_parquet" if path.suffix == ".parquet" else "read_json_auto"
    return f"{fn}('{str(path).replace(chr(39), chr(39) * 2)}')"


class Sources:
    """Everything the center reads and the few ledger writes it makes."""

    def __init__(self, settings: Settings | None = None, ledger: Ledger | None = None) -> None:
        self.settings = settings or Settings()
        self._ledger = ledger

    @cached_property
    def duck(self) -> duckdb.DuckDBPyConnection:
        """One in-memory DuckDB for the process (connecting costs ~100 ms); each query
        takes its own cursor, which DuckDB documents as the way to share it across threads."""
        return duckdb.connect()

    @cached_property
    def ledger(self) -> Ledger:
        led = self._ledger or Ledger(self.settings.ledger)
        led.create()
        return led

    # ------------------------------------------------------------ export (network) reads
    def _query_export(self, table: str, where: str = "", params: list[Any] | None = None) -> list[dict[str, Any]]:
        path = export_file(Path(self.settings.network), table)
        if path is None:
            return []
        con = self.duck.cursor()
        try:
            rel = con.execute(f"SELECT * FROM {_reader(path)} {where}", params or [])
            cols = [d[0] for d in rel.description]
            return [dict(zip(cols, row)) for row in rel.fetchall()]
        except duckdb.Error as exc:  # a malformed export file: show nothing rather than fail
            log.warning("cannot read %s: %s", path.name, type(exc).__name__)
            return []
        finally:
            con.close()

    def profile(self, member_id: str) -> dict[str, Any] | None:
        """The member's directory row: the ledger's when it has one, else the export's."""
        rec = self.ledger.member(member_id)
        if rec is not None:
            return plain(rec)
        rows = self._query_export("members", "WHERE member_id = ?", [member_id])
        return plain(rows[0]) if rows else None

    def member_exists(self, member_id: str) -> bool:
        """A member (not a non-member data subject) known to the export or the ledger.

        The export's member ids are cached per file version (path, mtime, size): the API
        asks this on every call, and re-reading the export each time would dominate."""
        known = self._export_members()
        if member_id in known:
            return known[member_id] is not False
        rec = self.ledger.member(member_id)
        return rec is not None and rec.is_member is not False

    def _export_members(self) -> dict[str, bool | None]:
        path = export_file(Path(self.settings.network), "members")
        if path is None:
            return {}
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        cached = self.__dict__.get("_members_cache")
        if cached and cached[0] == key:
            return cached[1]
        rows = self._query_export("members", "")
        index = {r["member_id"]: r.get("is_member") for r in rows}
        self.__dict__["_members_cache"] = (key, index)
        return index

    def staged_export(self) -> Path | None:
        """The export staged exactly as `consentry decide` and `snapshot build` stage it
        (validated, quarantined rows set aside, `member_issues` listed), so the center
        decides on the same rows; cached per file version. None when it cannot be staged."""
        network = Path(self.settings.network)
        if not network.is_dir():
            return None
        files = sorted(p for p in network.iterdir() if p.is_file())
        key = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        cached = self.__dict__.get("_staged_cache")
        if cached and cached[0] == key:
            return cached[1]
        from consentry.network import reader

        try:
            dest: Path | None = Path(reader.stage_cached(network, Path(self.settings.home) / "staged",
                                                         progress=False).dest)
        except (reader.ExportError, OSError, ValueError) as exc:  # cannot be staged: decide on nothing (fail closed)
            log.warning("cannot stage the export: %s", type(exc).__name__)
            dest = None
        self.__dict__["_staged_cache"] = (key, dest)
        return dest

    def register_plan_inputs(self, con: duckdb.DuckDBPyConnection, member_id: str) -> None:
        """Create on `con` (a cursor of its own: temporary views are per connection) the
        decision plan's inputs for one member: views over the staged export filtered to
        that member (the filter reaches each Parquet scan when the plan runs) merged with
        the ledger's records of that member, as `decide` merges them."""
        from consentry.network import schema
        from consentry.policy.decide import PLAN_INPUTS, ledger_tables, merge_ledger

        staged = self.staged_export()
        mid = "'" + member_id.replace("'", "''") + "'"
        for name in (*PLAN_INPUTS, "missing_inputs"):
            path = staged / f"{name}.parquet" if staged else None
            if path is None or not path.is_file() or name == "items":
                con.register(name, schema.TABLES[name].empty_table())
                continue
            where = "" if name == "missing_inputs" else f" WHERE member_id = {mid}"
            con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM {_reader(path)}{where}')
        merge_ledger(con, ledger_tables(self.ledger, member_id))

    def items(self, member_id: str) -> list[dict[str, Any]]:
        rows = self._query_export("items", "WHERE member_id = ? ORDER BY created_at, item_id", [member_id])
        return [plain(r) for r in rows]

    def signins(self, member_id: str) -> list[dict[str, Any]]:
        return [plain(r) for r in self._query_export("signins", "WHERE member_id = ? ORDER BY \"at\"", [member_id])]

    # ------------------------------------------------------------ ledger
    def events(self, member_id: str) -> list[dict[str, Any]]:
        return [plain(e) for e in self.ledger.events_for(member_id)]

    def requests(self, member_id: str) -> list[dict[str, Any]]:
        return [plain(r) for r in self.ledger.requests_for(member_id)]

    def notices(self, member_id: str) -> list[dict[str, Any]]:
        """Privacy notices delivered to the member by now, oldest first: the ledger's (the
        record) and the export's not imported yet, as `{"notice_version", "delivered_at"}`.

        Why: a choice records the notice the member was shown, and a notice version that
        was never delivered to the member is refused; both read this one list."""
        now = datetime.now(UTC)
        found = {(r.notice_version, r.delivered_at) for r in self.ledger.notices_for(member_id)}
        for r in self._query_export("notices", "WHERE member_id = ?", [member_id]):
            if r.get("notice_version") and isinstance(r.get("delivered_at"), datetime):
                found.add((r["notice_version"], r["delivered_at"]))
        delivered = sorted((at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC), v) for v, at in found)
        return [{"notice_version": v, "delivered_at": at} for at, v in delivered if at <= now]

    def latest_notice(self, member_id: str) -> dict[str, Any] | None:
        """The notice the member pages show: the latest one delivered to the member."""
        delivered = self.notices(member_id)
        return delivered[-1] if delivered else None

    def notice_delivered(self, member_id: str, notice_version: str) -> bool:
        return any(n["notice_version"] == notice_version for n in self.notices(member_id))

    def record_choice(self, member_id: str, purpose: str, choice: str, source: str, *,
                      client_request_id: str, notice_version: str | None = None,
                      jurisdiction: str | None = None) -> dict[str, Any]:
        rec = self.ledger.append_event(
            member_id, purpose, choice, source, datetime.now(UTC), notice_version,
            client_request_id=client_request_id, jurisdiction=jurisdiction,
        )
        return plain(rec)

    def record_request(self, member_id: str, kind: str, item_ids: list[str] | None, *,
                       client_request_id: str, deadline: datetime | None = None) -> dict[str, Any]:
        rec = self.ledger.append_request(member_id, kind, datetime.now(UTC), item_ids,
                                         client_request_id=client_request_id, deadline=deadline)
        return plain(rec)

    def add_redaction_name(self, name: str, contact: str | None, *, client_request_id: str) -> dict[str, Any]:
        return plain(self.ledger.add_redaction_name(name, contact, client_request_id=client_request_id))

    # ------------------------------------------------------------ snapshots and models
    def snapshots(self) -> list[Any]:
        from consentry.snapshots.catalog import list_snapshots

        try:
            return list_snapshots(self.settings.snapshots)
        except (OSError, ValueError) as exc:
            log.warning("cannot list snapshots: %s", type(exc).__name__)
            return []

    def lineage(self, member_id: str) -> list[dict[str, Any]]:
        """Per snapshot: which of the member's items it holds, and which it excluded and why."""
        out: list[dict[str, Any]] = []
        con = self.duck.cursor()
        try:
            for snap in self.snapshots():
                m = snap.manifest
                entry: dict[str, Any] = {
                    "purpose": m.purpose, "version": m.version, "created_at": plain(m.created_at),
                    "as_of": plain(m.as_of), "pack": m.pack_ref, "pack_name": m.pack, "content_hash": m.content_hash,
                    "included": [], "excluded": [],
                    "forget_history": [plain(f.model_dump()) for f in m.forget_history],
                    "unfinished_forget": snap.unfinished_forget,
                }
                if entry["unfinished_forget"]:  # torn or still holding erased data: say so, read nothing
                    out.append(entry)
                    continue
                lin, exc = snap.path / "lineage.parquet", snap.path / "excluded.parquet"
                if lin.exists():
                    entry["included"] = [
                        {"item_id": i, "shard": int(s), "content_hash": h}
                        for i, s, h in con.execute(
                            f"SELECT item_id, shard, content_hash FROM {_reader(lin)} "
                            "WHERE member_id = ? ORDER BY item_id", [member_id]).fetchall()
                    ]
                if exc.exists():
                    entry["excluded"] = [
                        {"item_id": i, "reasons": list(r or [])}
                        for i, r in con.execute(
                            f"SELECT item_id, reasons FROM {_reader(exc)} WHERE member_id = ? ORDER BY item_id",
                            [member_id]).fetchall()
                    ]
                out.append(entry)
        finally:
            con.close()
        return out

    def registry(self) -> Any:
        from consentry.training.registry import Registry

        return Registry(self.settings.models)

    def models(self) -> list[dict[str, Any]]:
        if not (Path(self.settings.models) / "registry.json").exists():
            return []
        try:
            return self.registry().versions()
        except Exception as exc:  # a malformed registry must not take the center down
            log.warning("cannot read the model registry: %s", type(exc).__name__)
            return []

    def models_for(self, member_id: str) -> list[dict[str, Any]]:
        """Model versions whose training data held the member, with their snapshot and status."""
        out = []
        for v in self.models():
            shards = [s["shard"] for s in v.get("shards", []) if member_id in s.get("members", [])]
            if shards:
                out.append({
                    "version": v.get("version"), "name": v.get("name"), "status": v.get("status"),
                    "created_at": v.get("created_at"), "superseded_at": v.get("superseded_at"),
                    "superseded_by": v.get("superseded_by"), "snapshot": v.get("snapshot"),
                    "shards": shards,
                })
        return out

    def receipts(self, member_id: str) -> list[dict[str, Any]]:
        """Forgetting receipts of the member (`receipts/<run_id>/<member_id>.json`)."""
        from consentry.center.auth import MEMBER_ID_RE

        root = Path(self.settings.home) / "receipts"
        if not root.is_dir() or not MEMBER_ID_RE.fullmatch(member_id):  # the id becomes a glob pattern
            return []
        out = []
        for p in sorted(root.glob(f"*/{member_id}.json")):
            try:
                data = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(data, dict) and data.get("member_id") == member_id:
                out.append(data)
        return out
