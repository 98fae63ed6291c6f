"""PII detectors and operators behind one batch API (DESIGN.md "Redaction API").

`find_spans` finds personal data in texts; `Redactor.redact_batch` replaces it in an
Arrow record batch and is the single function the DuckDB and Spark engines call.
This module knows nothing about consent: callers decide what to redact (the
policy pack carries a `RedactConfig`).
"""

from consentry.redact.config import RedactConfig
from consentry.redact.detect import DETECTORS, find_spans
from consentry.redact.directory import MemberDirectory
from consentry.redact.redactor import Redactor, redact_parallel
from consentry.redact.spans import Span

__all__ = ["DETECTORS", "MemberDirectory", "RedactConfig", "Redactor", "Span", "find_spans", "redact_parallel"]
