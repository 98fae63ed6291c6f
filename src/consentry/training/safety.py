"""The output filter every draft passes before anyone sees it.

Why: the adapters train on redacted posts, but a language model can still put a
real person's name together from pieces. Drafts therefore go through the same
redactor the snapshots use, with the member directory (every member's display name
and handle) and the names of non-members who objected (kept by the ledger), and
the caller is told how many spans were replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consentry.settings import Settings


def draft_redactor(settings: Settings | None = None, *, ledger: Any = None) -> Any:
    """A masking redactor over the network's members and the ledger's objection names."""
    import pyarrow.parquet as pq

    from consentry.redact import MemberDirectory, RedactConfig, Redactor

    settings = settings or Settings()
    f = Path(settings.network) / "members.parquet"
    members = pq.read_table(f, columns=None) if f.exists() else None
    names = _objection_names(settings, ledger)
    directory = MemberDirectory.from_members(members) if members is not None else MemberDirectory.from_names([])
    return Redactor(RedactConfig(always_redact=tuple(names), operator="mask", max_pii_density=None), directory=directory)


def _objection_names(settings: Settings, ledger: Any) -> list[str]:
    if ledger is None:
        db = Path(settings.home) / "ledger.sqlite"
        if not settings.ledger_url and not db.exists():
            return []
        from consentry.ledger.store import Ledger

        ledger = Ledger(settings.ledger)
    try:
        return sorted({getattr(n, "name", n) for n in ledger.redaction_names() if getattr(n, "name", n)})
    except Exception:  # noqa: BLE001 - a ledger without the table (older schema): the directory still applies
        return []


def filter_draft(redactor: Any, prompt: str, draft: str) -> tuple[str, int]:
    """(draft with personal data masked in what the model wrote, spans replaced); the prompt is the user's own."""
    head, tail = draft[: len(prompt)], draft[len(prompt):]
    new, n, _ = redactor.redact_text(tail)  # max_pii_density=None: a draft is masked, never dropped
    return head + (new or ""), n
