"""The audit chain: every ledger write is one link, and any later edit breaks a link.

A link stores the sha256 of the written row's canonical JSON (its payload) and
hash = sha256(prev_hash || canonical JSON of {seq, kind, ref, payload_sha256, at}).
Verification walks the chain (contiguous seq, each prev_hash is the previous hash,
each hash recomputes) and then re-hashes every row the ledger holds against its link,
so editing an event, deleting one, inserting one behind the ledger's back, or editing
the chain itself all name the first bad seq.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from consentry.ledger.types import iso

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} into canonical JSON")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8, timestamps in one ISO form."""
    return _ENCODER.encode(obj)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def payload_hash(payload: dict[str, Any]) -> str:
    return sha256_hex(canonical(payload))


def link_entry(seq: int, kind: str, ref: str, payload_sha256: str, at: datetime | str) -> str:
    """Canonical JSON of one chain entry, spelled out (it is hashed once per write):
    identical to canonical({"seq", "kind", "ref", "payload_sha256", "at"})."""
    at_text = at if isinstance(at, str) else iso(at)
    return (f'{{"at":"{at_text}","kind":{_ENCODER.encode(kind)},"payload_sha256":"{payload_sha256}",'
            f'"ref":{_ENCODER.encode(ref)},"seq":{int(seq)}}}')


def link_hash(prev_hash: str, seq: int, kind: str, ref: str, payload_sha256: str, at: datetime | str) -> str:
    """hash = sha256(prev_hash || canonical JSON of the entry)."""
    return sha256_hex(prev_hash + link_entry(seq, kind, ref, payload_sha256, at))


@dataclass
class AuditReport:
    """The outcome of `Ledger.verify_chain()`: ok, or the first bad seq and why."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    detail: str = ""
    problems: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the keyed anchor could and could not check

    def text(self) -> str:
        if self.ok:
            return f"audit chain ok: {self.checked} entries verified" + "".join(f"; {n}" for n in self.notes)
        return f"audit chain BROKEN at seq {self.first_bad_seq}: {self.detail} ({self.checked} entries checked)"
