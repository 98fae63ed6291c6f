"""The consent ledger: append-only, idempotent, audited (see `store.Ledger`)."""

from consentry.ledger.audit import AuditReport
from consentry.ledger.records import (
    BulkResult,
    EventRecord,
    MemberRecord,
    NoticeRecord,
    RedactionNameRecord,
    RequestRecord,
)
from consentry.ledger.store import Ledger, LedgerConflict
from consentry.ledger.validate import FieldError

__all__ = [
    "AuditReport", "BulkResult", "EventRecord", "FieldError", "Ledger", "LedgerConflict", "MemberRecord",
    "NoticeRecord", "RedactionNameRecord", "RequestRecord",
]
