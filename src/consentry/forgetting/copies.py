"""The copies of member data that live outside snapshots: staged exports, export bundles, caches.

`decide` and `explain` stage an export once into `$CONSENTRY_HOME/staged/<hash>/`
and reuse it; the job matcher caches embeddings by content hash under
`models/embeddings/`. An erasure must reach them too. A staged export keeps its
rows (the plan must still see every item, and exclude it as `erased`) but loses the
erased texts, the quarantined raw rows and, for an erased account, the member's
personal fields (`MEMBER_PERSONAL`: the member row and its ids stay); the center's export bundles of a member
who asked for an erasure are deleted; a cache loses the erased hashes.

The set of what is erased comes from the ledger, the system of record: every
erasure request ever filed, processed or not, so a copy staged after the forget
run is caught by the next run and by `verify-erasure`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.snapshots import layout

ERASE_KINDS = ("erase_items", "erase_account", "erase_ai_data")
MEMBER_PERSONAL = ("display_name", "handle", "birth_date")
"""The personal fields of a staged member row that an account erasure blanks (as the ledger shreds them)."""
STALE_STAGING_S = 3600
"""A hidden staging directory older than this is a killed staging's leftover, not one in progress."""


@dataclass
class Erased:
    """Whom and what erasure requests name: whole members, single items, and by which request."""

    members: dict[str, str] = field(default_factory=dict)  # member_id -> request_id
    items: dict[str, str] = field(default_factory=dict)  # item_id -> request_id
    pending: list[str] = field(default_factory=list)  # request ids not yet processed
    owners: set[str] = field(default_factory=set)  # members who asked to erase single items
    accounts: set[str] = field(default_factory=set)  # members who asked to erase their whole account

    def __bool__(self) -> bool:
        return bool(self.members or self.items)

    def request_of(self, item_id: str | None, member_id: str | None) -> str | None:
        return self.items.get(item_id or "") or self.members.get(member_id or "")


def erased_in_ledger(ledger: Any) -> Erased:
    """Every erasure request in the ledger (None: nothing known)."""
    out = Erased()
    if ledger is None:
        return out
    t = ledger.requests_table()
    pending = {r.request_id for r in ledger.pending_requests()}
    for r in t.to_pylist():
        if r["kind"] not in ERASE_KINDS:
            continue
        if r["request_id"] in pending:
            out.pending.append(r["request_id"])
        if r["kind"] == "erase_items":
            out.owners.add(r["member_id"])
            for i in r["item_ids"] or []:
                out.items.setdefault(i, r["request_id"])
        else:
            out.members.setdefault(r["member_id"], r["request_id"])
            if r["kind"] == "erase_account":
                out.accounts.add(r["member_id"])
    return out


def _personal_hit(t: pa.Table, accounts: set[str]) -> tuple[pa.ChunkedArray, list[str]]:
    """Rows of erased accounts that still hold a personal field, and which fields the table has."""
    fields = [f for f in MEMBER_PERSONAL if f in t.column_names]
    held = None
    for f in fields:
        held = pc.is_valid(t.column(f)) if held is None else pc.or_(held, pc.is_valid(t.column(f)))
    mine = pc.is_in(t.column("member_id"), value_set=pa.array(sorted(accounts), pa.string()))
    return (pc.and_(mine, held) if held is not None else pc.and_(mine, pa.scalar(False))), fields


def _hit(t: pa.Table, erased: Erased) -> pa.ChunkedArray:
    ids = pa.array(sorted(erased.items), pa.string())
    members = pa.array(sorted(erased.members), pa.string())
    return pc.or_(pc.is_in(t.column("item_id"), value_set=ids), pc.is_in(t.column("member_id"), value_set=members))


def staged_dirs(staged_root: Path) -> list[Path]:
    """Complete stagings (`staged.json` written) under `staged_root`."""
    if not Path(staged_root).is_dir():
        return []
    return sorted(p for p in Path(staged_root).iterdir() if p.is_dir() and (p / "staged.json").is_file())


def staged_leftovers(staged_root: Path, older_than_s: float = STALE_STAGING_S) -> list[Path]:
    """Hidden directories a killed staging left behind (full copies of an export)."""
    if not Path(staged_root).is_dir():
        return []
    now = time.time()
    return sorted(p for p in Path(staged_root).iterdir()
                  if p.is_dir() and p.name.startswith(".") and now - p.stat().st_mtime > older_than_s)


def staged_findings(staged_root: Path, erased: Erased) -> list[tuple[str, str, str]]:
    """(file, item_id, request) for every erased item whose text a staging still holds."""
    out: list[tuple[str, str, str]] = []
    if not erased:
        return out
    for d in staged_dirs(staged_root):
        path = d / "items.parquet"
        if not path.exists():
            continue
        t = pq.read_table(path, columns=["item_id", "member_id", "text"])
        left = t.filter(pc.and_(_hit(t, erased), pc.is_valid(t.column("text"))))
        for r in left.select(["item_id", "member_id"]).to_pylist():
            out.append((str(path), r["item_id"], erased.request_of(r["item_id"], r["member_id"]) or "?"))
        members = d / "members.parquet"
        if erased.accounts and members.exists():
            m = pq.read_table(members)
            hit, fields = _personal_hit(m, erased.accounts)
            for r in m.filter(hit).select(["member_id"]).to_pylist():
                out.append((str(members), "?", f"member {r['member_id']} keeps {'/'.join(fields)} after an "
                            f"account erasure ({erased.members.get(r['member_id'], '?')})"))
        q = d / "quarantine.jsonl"
        if q.exists():
            from consentry.forgetting.erase import _quarantine_hit

            with open(q, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip() and _quarantine_hit(line, set(erased.items), set(erased.members)):
                        out.append((str(q), "?", "a quarantined raw row of an erased item"))
    for d in staged_leftovers(staged_root):
        out.append((str(d), "?", "leftover of a killed staging (a full copy of an export)"))
    return out


def scrub_staged(staged_root: Path, erased: Erased) -> list[Path]:
    """Blank erased texts and drop their quarantined raw rows in every staging; returns files changed.

    Rows stay (ids, kinds, dates): the plan must still see each item to exclude it
    as `erased`. Each file is replaced in one rename.
    """
    changed: list[Path] = []
    for d in staged_leftovers(staged_root):
        shutil.rmtree(d, ignore_errors=True)
        changed.append(d)
    if not erased:
        return changed
    for d in staged_dirs(staged_root):
        path = d / "items.parquet"
        if path.exists():
            t = pq.read_table(path)
            hit = pc.and_(_hit(t, erased), pc.is_valid(t.column("text")))
            if pc.any(hit).as_py():
                text = pc.if_else(hit, pa.scalar(None, t.schema.field("text").type), t.column("text"))
                t = t.set_column(t.schema.get_field_index("text"), t.schema.field("text"), text)
                tmp = path.with_name(f"{layout.TMP_PREFIX}{path.name}")
                pq.write_table(t, tmp, compression="zstd", compression_level=1)
                layout.replace_file(tmp, path)
                changed.append(path)
        members = d / "members.parquet"
        if erased.accounts and members.exists() and _scrub_members(members, erased.accounts):
            changed.append(members)
        q = d / "quarantine.jsonl"
        if q.exists() and q.stat().st_size:
            from consentry.forgetting.erase import _quarantine_hit

            lines = q.read_text("utf-8").splitlines(keepends=True)
            kept = [x for x in lines if not (x.strip() and _quarantine_hit(x, set(erased.items), set(erased.members)))]
            if len(kept) != len(lines):
                layout.write_atomic(q, "".join(kept).encode("utf-8"))
                changed.append(q)
    return changed


def _scrub_members(path: Path, accounts: set[str]) -> bool:
    """Blank the personal fields of erased accounts' rows in a staged members file (one rename)."""
    t = pq.read_table(path)
    hit, fields = _personal_hit(t, accounts)
    if not pc.any(hit).as_py():
        return False
    for f in fields:
        i = t.schema.get_field_index(f)
        t = t.set_column(i, t.schema.field(f), pc.if_else(hit, pa.scalar(None, t.schema.field(f).type), t.column(f)))
    tmp = path.with_name(f"{layout.TMP_PREFIX}{path.name}")
    pq.write_table(t, tmp, compression="zstd", compression_level=1)
    layout.replace_file(tmp, path)
    return True


def export_dirs(home: Path, erased: Erased) -> list[Path]:
    """The center's export bundles (`exports/<member>/`) of members with an erasure request.

    A bundle is a full copy of what the member asked to see, texts included; after an
    erasure it would still hold them, so it goes (a new export request reflects the erasure).
    """
    d = Path(home) / "exports"
    if not d.is_dir():
        return []
    names = set(erased.members) | erased.owners
    return sorted(d / m for m in names if m not in (".", "..") and "/" not in m and (d / m).is_dir())


def delete_exports(home: Path, erased: Erased) -> list[Path]:
    gone = export_dirs(home, erased)
    for p in gone:
        shutil.rmtree(p)
    return gone


def cache_files(models_dir: Path) -> list[Path]:
    """Caches keyed by content hash (the matcher's embeddings)."""
    d = Path(models_dir) / "embeddings"
    return sorted(d.glob("*.parquet")) if d.is_dir() else []


def cache_findings(models_dir: Path, hashes: set[str]) -> list[tuple[str, str]]:
    out = []
    if not hashes:
        return out
    for f in cache_files(models_dir):
        t = pq.read_table(f)
        if "hash" not in t.column_names:
            continue
        for h in set(t.column("hash").to_pylist()) & hashes:
            out.append((str(f), h))
    return out


def scrub_caches(models_dir: Path, hashes: Iterable[str]) -> list[Path]:
    """Drop the rows keyed by `hashes` from every content-hash cache; returns files changed."""
    value_set = pa.array(sorted(set(hashes)), pa.string())
    changed = []
    if len(value_set) == 0:
        return changed
    for f in cache_files(models_dir):
        t = pq.read_table(f)
        if "hash" not in t.column_names:
            continue
        keep = t.filter(pc.invert(pc.is_in(t.column("hash"), value_set=value_set)))
        if keep.num_rows != t.num_rows:
            tmp = f.with_name(f"{layout.TMP_PREFIX}{f.name}")
            pq.write_table(keep, tmp)
            layout.replace_file(tmp, f)
            changed.append(f)
    return changed

