"""The consent ledger: append-only, idempotent, audited (see `store.Ledger`)."""

from consentry.ledger.anchor import AuditKeyError
from consentry.ledger.audit import AuditReport
from consentry.ledger.records import (
    BulkResult,
    EventRecord,
    MemberRecord,
    NoticeRecord,
    RedactionNameRecord,
    RequestRecord,
    ShredResult,
)
from consentry.ledger.store import IdempotencyConflict, Ledger, LedgerConflict
from consentry.ledger.validate import FieldError

__all__ = [
    "AuditKeyError", "AuditReport", "BulkResult", "EventRecord", "FieldError", "IdempotencyConflict", "Ledger",
    "LedgerConflict", "MemberRecord", "NoticeRecord", "RedactionNameRecord", "RequestRecord", "ShredResult",
]
