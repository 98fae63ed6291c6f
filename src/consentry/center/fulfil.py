"""Data-subject requests from filing to closing: file (any channel), fulfil exports, refuse.

Why one module: a request must reach the same ledger record with the same legal
deadline whether it comes from the member's page, the platform's API, the operator's
CLI or an admin, and an export must be the same JSON bundle the member page offers.
Erasures are closed by `consentry forget` (the forgetting workflow); exports are
closed here by `process_exports`, which writes the bundle under
`$CONSENTRY_HOME/exports/<member>/<request_id>.json` (0600) for the member to
download from their requests page, and marks the request processed with the date,
the file's hash and size. A bundle holds personal data: `consentry forget` deletes the
bundles of the members it erases (forgetting's `copies.delete_exports`, the one place
that does), and no bundle is written while the member's account erasure is pending.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consentry.center import explain
from consentry.center.auth import MEMBER_ID_RE
from consentry.center.deadlines import deadline
from consentry.center.sources import Sources, plain
from consentry.policy.packs import Pack
from consentry.vocab import Choice, Purpose, RequestKind, Source

EXPORT_FORMAT = "consentry.member-export/1"
EXPORTS = "exports"  # under $CONSENTRY_HOME: <member>/<request_id>.json
ERASE_KINDS = (RequestKind.ERASE_ITEMS.value, RequestKind.ERASE_ACCOUNT.value, RequestKind.ERASE_AI_DATA.value)
REQUEST_KINDS = (*ERASE_KINDS, RequestKind.EXPORT.value)


class RequestRefused(ValueError):
    """A request that cannot be filed as given; the message names the field and what is accepted."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


# ------------------------------------------------------------------ filing


def file_request(src: Sources, member: str, kind: str, item_ids: list[str] | None = None, *,
                 client_request_id: str, at: datetime | None = None) -> dict[str, Any]:
    """Record a request with the deadline of the member's law; refuses what could not be honoured."""
    if kind not in REQUEST_KINDS:
        raise RequestRefused("kind", f"must be one of {', '.join(REQUEST_KINDS)}")
    if not src.member_exists(member):
        raise RequestRefused("member_id", f"no member {member!r}")
    items = sorted(set(item_ids or []))
    if kind == RequestKind.ERASE_ITEMS:
        if not items:
            raise RequestRefused("item_ids", "erase_items needs at least one item id")
        mine = {i["item_id"] for i in src.items(member)}
        foreign = [i for i in items if i not in mine]
        if foreign:
            raise RequestRefused("item_ids", f"{len(foreign)} item id(s) are not this member's items")
    elif items:
        raise RequestRefused("item_ids", f"only erase_items takes item ids, not {kind}")
    at = at or datetime.now(UTC)
    _, due = deadline(at, (src.profile(member) or {}).get("residence_country"))
    rec = src.ledger.append_request(member, kind, at, items or None, client_request_id=client_request_id,
                                    deadline=due)
    return plain(rec)


def file_objection(src: Sources, member: str, purpose: str, *, withdraw: bool = False, source: str = Source.API,
                   client_request_id: str) -> dict[str, Any]:
    """Record an objection (or its withdrawal) to any purpose, ml_safety included: the pack
    decides whether it is honoured and, when not, the member page gives the pack's reason."""
    if purpose not in {p.value for p in Purpose}:
        raise RequestRefused("purpose", f"must be one of {', '.join(p.value for p in Purpose)}")
    if not src.member_exists(member):
        raise RequestRefused("member_id", f"no member {member!r}")
    choice = Choice.WITHDRAW_OBJECTION if withdraw else Choice.OBJECT
    return src.record_choice(member, purpose, choice.value, str(source), client_request_id=client_request_id)


# ------------------------------------------------------------------ export bundles


def export_bundle(src: Sources, pack: Pack, member: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything consentry holds about the member: the document the member page offers."""
    now = now or datetime.now(UTC)
    profile = src.profile(member)
    events = src.events(member)
    views = explain.purpose_views(pack, src, member, profile, events, now=now,
                                  purposes=tuple(p.value for p in Purpose))
    return {
        "format": EXPORT_FORMAT,
        "generated_at": plain(now),
        "member_id": member,
        "profile": profile,
        "items": src.items(member),
        "choices": events,
        "requests": src.requests(member),
        "decisions": [plain(v) for v in views],
        "lineage": src.lineage(member),
        "models": src.models_for(member),
        "forget_receipts": src.receipts(member),
    }


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode()


def exports_dir(src: Sources) -> Path:
    return Path(src.settings.home) / EXPORTS


def bundle_path(src: Sources, member: str, request_id: str) -> Path:
    if not MEMBER_ID_RE.fullmatch(member) or not MEMBER_ID_RE.fullmatch(request_id):
        raise RequestRefused("request_id", "ids are letters, digits and _.:@- only")
    return exports_dir(src) / member / f"{request_id}.json"


def read_bundle(src: Sources, member: str, request_id: str) -> bytes | None:
    """The fulfilled export of one of the member's own requests, or None (also for an id
    that cannot name a bundle: to the asker that is the same as no such export)."""
    rec = src.ledger.request(request_id)
    if rec is None or rec.member_id != member or rec.kind != RequestKind.EXPORT or rec.status != "processed":
        return None
    try:
        path = bundle_path(src, member, request_id)
    except RequestRefused:
        return None
    return path.read_bytes() if path.is_file() else None


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class Outcome:
    request_id: str
    member_id: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.request_id} ({self.member_id}): {self.status}, {self.detail}"


def fulfil_export(src: Sources, pack: Pack, rec: Any, now: datetime | None = None) -> Outcome:
    """Write one export request's bundle and close the request (idempotent per request)."""
    now = now or datetime.now(UTC)
    member = rec.member_id
    if any(r.kind == RequestKind.ERASE_ACCOUNT and r.status == "pending" for r in src.ledger.requests_for(member)):
        return Outcome(rec.request_id, member, "pending", "held: an account erasure of this member is pending")
    data = dumps(export_bundle(src, pack, member, now))
    path = bundle_path(src, member, rec.request_id)
    _write_private(path, data)
    result = {"bundle": str(path.relative_to(src.settings.home)), "sha256": hashlib.sha256(data).hexdigest(),
              "bytes": len(data), "format": EXPORT_FORMAT}
    done = src.ledger.mark_processed(rec.request_id, result, client_request_id=f"export:{rec.request_id}", at=now)
    return Outcome(rec.request_id, member, done.status, f"bundle {result['bundle']} ({len(data)} bytes)")


def process_exports(src: Sources, pack: Pack, now: datetime | None = None) -> list[Outcome]:
    """Fulfil every open (pending or failed) export request, oldest first (erasures are
    `consentry forget`'s, whose run also deletes the bundles of members it erases)."""
    now = now or datetime.now(UTC)
    out = []
    for r in src.ledger.unanswered_requests():
        if r.kind != RequestKind.EXPORT:
            continue
        try:
            out.append(fulfil_export(src, pack, r, now))
        except OSError as exc:  # one unwritable bundle must not stop the others; it stays open, marked failed
            src.ledger.mark_processed(r.request_id, {"error": type(exc).__name__},
                                      client_request_id=f"export-failed:{r.request_id}:{now.isoformat()}",
                                      status="failed", at=now)
            out.append(Outcome(r.request_id, r.member_id, "failed", f"bundle not written ({type(exc).__name__})"))
    return out


def refuse(src: Sources, request_id: str, reason: str, *, client_request_id: str) -> dict[str, Any]:
    """Close an open request without acting on it, with the reason the member is told."""
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= 1000:
        raise RequestRefused("reason", "give the reason the member will read (3 to 1000 characters)")
    rec = src.ledger.request(request_id)
    if rec is None or rec.status not in OPEN:
        raise RequestRefused("request_id", "no open request with this id")
    return plain(src.ledger.mark_processed(request_id, {"refused": True, "reason": reason},
                                           client_request_id=client_request_id, status="refused"))


# ------------------------------------------------------------------ open requests against deadlines


OPEN = ("pending", "failed")  # a failed run answered nothing: the request is still owed


def open_requests(src: Sources, now: datetime | None = None) -> list[dict[str, Any]]:
    """Requests still owed an answer (pending or failed), with law, due date and days left,
    soonest due first: what the admin page lists and the dashboard counts as overdue."""
    now = now or datetime.now(UTC)
    rows = []
    for r in src.ledger.unanswered_requests():
        country = (src.profile(r.member_id) or {}).get("residence_country")
        law, due = deadline(r.at, country)
        rows.append({"request_id": r.request_id, "member_id": r.member_id, "kind": r.kind, "at": r.at,
                     "status": r.status,
                     "country": country or "unknown", "law": law.name, "due": due,
                     "days_left": (due - now).days, "overdue": due < now, "n_items": len(r.item_ids or [])})
    rows.sort(key=lambda r: r["due"])
    return rows
