"""Normalise and check one write before it reaches the ledger.

Fail closed: an unknown purpose, choice, source or kind, a missing id or an
unparseable timestamp is refused with the field named, never stored half-right.
Derived ids are content-addressed from the client request id, so a retry that
omits the id still lands on the same row.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from consentry.ledger.models import ConsentEvent, text_limit
from consentry.ledger.types import to_utc
from consentry.vocab import Choice, LegalBasis, Purpose, RequestKind, Source

CHOICES = {c.value for c in Choice}
SOURCES = {s.value for s in Source}
PURPOSES = {p.value for p in Purpose}
KINDS = {k.value for k in RequestKind}
BASES = {b.value for b in LegalBasis}
REQUEST_DEADLINE = timedelta(days=30)  # GDPR Art. 12(3): one month to answer

# A recorded choice's usual legal basis when the caller names none (DPV terms):
# an opt-in is consent; opting out of, or objecting to, processing presupposes
# legitimate interest. This records, it does not decide eligibility.
DEFAULT_BASIS = {
    "opt_in": LegalBasis.CONSENT.value,
    "opt_out": LegalBasis.LEGITIMATE_INTEREST.value,
    "object": LegalBasis.LEGITIMATE_INTEREST.value,
    "withdraw_objection": LegalBasis.LEGITIMATE_INTEREST.value,
}


class FieldError(ValueError):
    """A write refused because one field is missing or not allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def derived_id(prefix: str, client_request_id: str) -> str:
    return f"{prefix}_{hashlib.sha256(client_request_id.encode()).hexdigest()[:24]}"


def _text(d: Mapping[str, Any], field: str, *, required: bool = True, limit: int = 256) -> str | None:
    value = d.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldError(field, "is required")
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise FieldError(field, f"longer than {limit} characters")
    return value


def _enum(d: Mapping[str, Any], field: str, allowed: set[str], *, required: bool = True) -> str | None:
    value = d.get(field)
    if value is None and not required:
        return None
    value = getattr(value, "value", value)
    if value not in allowed:
        raise FieldError(field, f"unknown value {value!r} (allowed: {', '.join(sorted(allowed))})")
    return value


def _time(d: Mapping[str, Any], field: str, *, required: bool = True) -> datetime | None:
    value = d.get(field)
    if value is None:
        if required:
            raise FieldError(field, "is required")
        return None
    try:
        return to_utc(value)
    except (TypeError, ValueError) as exc:
        raise FieldError(field, f"not an ISO 8601 timestamp ({exc})") from None


def _date(d: Mapping[str, Any], field: str) -> date | None:
    value = d.get(field)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise FieldError(field, f"not an ISO 8601 date ({exc})") from None


def event_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    """A consent event's caller-written columns (`models.EVENT_COLUMNS` less the ledger's own),
    each within its column's declared length."""
    def limit(column: str) -> int:
        return text_limit(ConsentEvent, column)

    crid = _text(d, "client_request_id", limit=limit("client_request_id"))
    choice = _enum(d, "choice", CHOICES)
    basis = _enum(d, "legal_basis", BASES, required=False) or DEFAULT_BASIS[choice]  # type: ignore[index]
    jur = _text(d, "jurisdiction", required=False, limit=limit("jurisdiction"))
    return {
        "event_id": _text(d, "event_id", required=False, limit=limit("event_id")) or derived_id("ev", crid),  # type: ignore[arg-type]
        "member_id": _text(d, "member_id", limit=limit("member_id")),
        "purpose": _enum(d, "purpose", PURPOSES),
        "choice": choice,
        "source": _enum(d, "source", SOURCES),
        "notice_version": _text(d, "notice_version", required=False, limit=limit("notice_version")),
        "at": _time(d, "at"),
        "client_request_id": crid,
        "legal_basis": basis,
        "jurisdiction": jur.upper() if jur else None,
    }


def request_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    crid = _text(d, "client_request_id")
    at = _time(d, "at")
    items = d.get("item_ids")
    if items is not None:
        items = list(items)
        if not all(isinstance(i, str) and i for i in items):
            raise FieldError("item_ids", "must be a list of non-empty item ids")
    return {
        "request_id": _text(d, "request_id", required=False, limit=128) or derived_id("rq", crid),  # type: ignore[arg-type]
        "member_id": _text(d, "member_id", limit=128),
        "kind": _enum(d, "kind", KINDS),
        "item_ids": items,
        "at": at,
        "client_request_id": crid,
        "deadline": _time(d, "deadline", required=False) or at + REQUEST_DEADLINE,  # type: ignore[operator]
    }


def notice_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "member_id": _text(d, "member_id", limit=128),
        "notice_version": _text(d, "notice_version", limit=128),
        "delivered_at": _time(d, "delivered_at"),
        "client_request_id": _text(d, "client_request_id"),
    }


def member_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    is_member = d.get("is_member")
    if is_member is not None and not isinstance(is_member, bool):
        raise FieldError("is_member", f"must be true or false, got {is_member!r}")
    country = _text(d, "residence_country", required=False, limit=8)
    return {
        "member_id": _text(d, "member_id", limit=128),
        "display_name": _text(d, "display_name", required=False, limit=10_000),
        "handle": _text(d, "handle", required=False),
        "residence_country": country,
        "birth_date": _date(d, "birth_date"),
        "is_member": is_member,
        "joined_at": _time(d, "joined_at", required=False),
        "closed_at": _time(d, "closed_at", required=False),
    }


def redaction_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    purposes = d.get("purposes")
    if purposes is not None:
        purposes = [getattr(p, "value", p) for p in purposes]
        bad = [p for p in purposes if p not in PURPOSES]
        if bad:
            raise FieldError("purposes", f"unknown purposes {bad}")
    crid = _text(d, "client_request_id")
    return {
        "subject_id": _text(d, "subject_id", required=False) or derived_id("nonmember", crid),  # type: ignore[arg-type]
        "name": _text(d, "name", limit=10_000),
        "contact": _text(d, "contact", required=False, limit=10_000),
        "purposes": purposes,
        "at": _time(d, "at"),
        "client_request_id": crid,
    }
