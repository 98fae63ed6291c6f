"""The audit chain detects tampering done around the ledger, by direct SQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text

from consentry.ledger import Ledger

AT = datetime(2024, 10, 1, tzinfo=timezone.utc)


def _fill(ledger: Ledger) -> dict[str, int]:
    seqs = {}
    ledger.upsert_member("m1", display_name="A", residence_country="US", is_member=True)
    for i in range(5):
        seqs[f"e{i}"] = ledger.append_event(f"m{i}", "genai_training", "opt_out", "settings", AT,
                                            client_request_id=f"c{i}", event_id=f"e{i}").seq
    r = ledger.append_request("m1", "erase_account", AT, client_request_id="q1", request_id="R1")
    seqs["R1"] = r.seq
    ledger.mark_processed("R1", {"ok": True}, "p1")
    ledger.append_notice("m1", "v1", AT, client_request_id="n1")
    return seqs


def _sql(ledger: Ledger, stmt: str, **params: object) -> None:
    engine = create_engine(ledger.url)
    with engine.begin() as conn:
        conn.execute(text(stmt), params)
    engine.dispose()


def test_untouched_ledger_verifies(ledger: Ledger) -> None:
    _fill(ledger)
    report = ledger.verify_chain()
    assert report.ok and report.checked == ledger.position() == 9 and report.first_bad_seq is None


@pytest.mark.parametrize(
    ("stmt", "target"),
    [
        ("UPDATE consent_events SET choice = 'opt_in' WHERE event_id = 'e2'", "e2"),
        ("DELETE FROM consent_events WHERE event_id = 'e3'", "e3"),
        ("UPDATE audit_chain SET payload_sha256 = 'x' WHERE ref = 'e1'", "e1"),
        ("UPDATE requests SET status = 'pending', processed_at = NULL, result = NULL WHERE request_id = 'R1'", None),
    ],
)
def test_tampering_names_the_first_bad_seq(ledger: Ledger, stmt: str, target: str | None) -> None:
    seqs = _fill(ledger)
    _sql(ledger, stmt)
    report = ledger.verify_chain()
    assert not report.ok
    if target is not None:
        assert report.first_bad_seq == seqs[target]
        assert target in report.detail
    else:  # the request's processing mark was erased: flagged at the log entry's seq
        assert report.first_bad_seq == seqs["R1"] + 1
        assert "R1" in report.detail


def test_rows_written_around_the_ledger_are_detected(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(ledger, "INSERT INTO consent_events (seq, event_id, member_id, purpose, choice, source, at, "
                 "client_request_id, legal_basis, receipt, recorded_at) VALUES (100, 'forged', 'm9', "
                 "'genai_training', 'opt_in', 'api', :at, 'forged', 'dpv:Consent', '{}', :at)", at=AT)
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == 100 and "forged" in report.detail


def test_removed_link_breaks_the_chain(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(ledger, "DELETE FROM audit_chain WHERE seq = 4")
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == 4


def test_member_rollback_is_detected(ledger: Ledger) -> None:
    ledger.upsert_member("m1", display_name="A", residence_country="US")
    ledger.upsert_member("m1", display_name="A", residence_country="DE")
    _sql(ledger, "UPDATE members SET residence_country = 'US'")
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == 2 and "m1" in report.detail


def test_link_entry_is_canonical_json() -> None:
    from consentry.ledger.audit import canonical, link_entry

    entry = dict(seq=12, kind="event", ref='weird "ref" é', payload_sha256="ab" * 32, at=AT)
    assert link_entry(**entry) == canonical(entry)


def test_truncation_is_detected_against_an_anchor(ledger: Ledger) -> None:
    _fill(ledger)
    anchor = ledger.head()
    assert ledger.verify_chain(anchor).ok
    # removing the newest write together with its link leaves a consistent but shorter chain
    _sql(ledger, "DELETE FROM notices")
    _sql(ledger, f"DELETE FROM audit_chain WHERE seq = {anchor[0]}")
    assert ledger.verify_chain().ok  # undetectable without an anchor kept elsewhere
    report = ledger.verify_chain(anchor)
    assert not report.ok and report.first_bad_seq == anchor[0] and "truncated" in report.detail
