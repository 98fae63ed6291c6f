"""Per-subject encryption of the ledger's personal fields (crypto-shredding).

Names, handles, birth dates and non-members' names and contacts are stored sealed
with AES-256-GCM under a key that belongs to one data subject (a member id, or the
`subject_id` of a non-member's objection). Keys live in their own table,
`subject_keys`; erasing a subject destroys its key (the row keeps `key = NULL`, the
time and the audit seq of the shredding), after which every sealed field of that
subject reads as None. The audit chain hashes the sealed text as stored, so the
chain still verifies after a key is gone: the ledger can forget without looking
tampered with.

A sealed value is text, `s1:` + base64(nonce || ciphertext || tag); the associated
data binds it to its field and subject, so a sealed value copied onto another row or
column does not open.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.engine import Connection

from consentry.ledger.models import SubjectKey

KEYS = SubjectKey.__table__
PREFIX = "s1:"
NONCE = 12
CHUNK = 900

# The personal fields of each table, and how a field's plaintext is typed.
SEALED: dict[str, tuple[str, ...]] = {
    "members": ("display_name", "handle", "birth_date"),
    "redaction_names": ("name", "contact"),
}
DATE_FIELDS = {"birth_date"}


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _aad(field: str, subject: str) -> bytes:
    return f"consentry-ledger\0{field}\0{subject}".encode()


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        raise TypeError("sealed fields hold text or dates, not timestamps")
    return value.isoformat() if isinstance(value, date) else str(value)


def seal(aead: AESGCM, subject: str, field: str, value: Any) -> str | None:
    if value is None:
        return None
    nonce = os.urandom(NONCE)
    ct = aead.encrypt(nonce, _text(value).encode("utf-8"), _aad(field, subject))
    return PREFIX + base64.b64encode(nonce + ct).decode("ascii")


def open_sealed(aead: AESGCM | None, subject: str, field: str, text: str | None) -> Any:
    """The plaintext of one sealed field; None when the value is None or the subject's
    key was shredded. A value that does not open under the subject's key is an error
    (it was edited or moved), never silently None."""
    if text is None or aead is None:
        return None
    if not text.startswith(PREFIX):
        raise ValueError(f"{field} of subject {subject!r} is not sealed (stored as plain text)")
    raw = base64.b64decode(text[len(PREFIX):])
    try:
        plain = aead.decrypt(raw[:NONCE], raw[NONCE:], _aad(field, subject)).decode("utf-8")
    except InvalidTag:
        raise ValueError(f"{field} of subject {subject!r} does not open under its key (edited or moved)") from None
    return date.fromisoformat(plain) if field in DATE_FIELDS else plain


class Keys:
    """Subject keys read in one transaction: subject -> AESGCM, or None once shredded.

    Never cached across transactions, so a key shredded by another process is gone
    for every reader from its next read on."""

    def __init__(self, found: Mapping[str, bytes | None]):
        self._raw = dict(found)
        self._aead: dict[str, AESGCM | None] = {}

    def __contains__(self, subject: str) -> bool:
        return subject in self._raw

    def shredded(self, subject: str) -> bool:
        return subject in self._raw and self._raw[subject] is None

    def aead(self, subject: str) -> AESGCM | None:
        if subject not in self._aead:
            raw = self._raw.get(subject)
            self._aead[subject] = AESGCM(raw) if raw is not None else None
        return self._aead[subject]

    def seal_row(self, table: str, subject: str, row: dict[str, Any]) -> dict[str, Any]:
        """`row` with its personal fields sealed (None for a shredded subject: the
        ledger does not learn an erased subject's personal data again)."""
        aead = self.aead(subject)
        out = dict(row)
        for f in SEALED[table]:
            out[f] = seal(aead, subject, f, row.get(f)) if aead is not None else None
        return out

    def open_row(self, table: str, subject: str, row: Mapping[str, Any]) -> dict[str, Any]:
        aead = self.aead(subject)
        out = dict(row)
        for f in SEALED[table]:
            out[f] = open_sealed(aead, subject, f, row.get(f))
        return out


def load(conn: Connection, subjects: Iterable[str] | None = None) -> Keys:
    """The keys of `subjects` (all keys when None)."""
    found: dict[str, bytes | None] = {}
    if subjects is None:
        for sid, key in conn.execute(select(KEYS.c.subject_id, KEYS.c.key)):
            found[sid] = None if key is None else bytes(key)
        return Keys(found)
    uniq = list(dict.fromkeys(subjects))
    for i in range(0, len(uniq), CHUNK):
        stmt = select(KEYS.c.subject_id, KEYS.c.key).where(KEYS.c.subject_id.in_(uniq[i : i + CHUNK]))
        for sid, key in conn.execute(stmt):
            found[sid] = None if key is None else bytes(key)
    return Keys(found)


def ensure(conn: Connection, subjects: Iterable[str], now: datetime) -> Keys:
    """Keys for `subjects`, creating one for each subject that has none yet (inside the
    caller's write transaction, so a key exists exactly when its first sealed row does)."""
    from consentry.ledger.chain import insert_rows

    uniq = list(dict.fromkeys(subjects))
    keys = load(conn, uniq)
    fresh = [{"subject_id": s, "key": new_key(), "created_at": now, "shredded_at": None, "seq": None}
             for s in uniq if s not in keys]
    if fresh:
        insert_rows(conn, KEYS, fresh)
        keys._raw.update({r["subject_id"]: r["key"] for r in fresh})
    return keys
