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


def test_hand_kept_anchor_still_checked(ledger: Ledger) -> None:
    _fill(ledger)
    anchor = ledger.head()
    assert ledger.verify_chain(anchor).ok
    _sql(ledger, f"UPDATE audit_chain SET hash = '{'f' * 64}' WHERE seq = {anchor[0]}")
    report = ledger.verify_chain(anchor)
    assert not report.ok and report.first_bad_seq == anchor[0]


def _truncate_newest(ledger: Ledger, seq: int) -> None:
    """Remove the newest write (a notice) with its link and its checkpoint: the hash
    chain that remains is consistent on its own."""
    _sql(ledger, "DELETE FROM notices")
    _sql(ledger, f"DELETE FROM audit_chain WHERE seq = {seq}")
    _sql(ledger, f"DELETE FROM audit_checkpoints WHERE seq = {seq}")


def test_truncated_tail_is_detected_without_a_hand_kept_anchor(ledger: Ledger) -> None:
    _fill(ledger)
    last = ledger.position()
    _truncate_newest(ledger, last)
    report = ledger.verify_chain()  # no --anchor: the keyed head file outside the database catches it
    assert not report.ok and report.first_bad_seq == last and "truncated" in report.detail


def _relink(ledger: Ledger, from_seq: int) -> None:
    """Recompute every link from `from_seq` on, as someone who edited a row would."""
    from consentry.ledger.audit import link_hash, payload_hash
    from consentry.ledger.chain import TABLES, payload_of

    engine = create_engine(ledger.url)
    with engine.begin() as conn:
        links = conn.execute(text("SELECT seq, kind, ref, payload_sha256, prev_hash, hash, at FROM audit_chain "
                                  "ORDER BY seq")).all()
        prev = next(r.hash for r in links if r.seq == from_seq - 1)
        for r in links:
            if r.seq < from_seq:
                continue
            ph = r.payload_sha256
            if r.kind == "event":
                table = TABLES["event"]
                row = conn.execute(table.select().where(table.c.seq == r.seq)).one()._mapping
                ph = payload_hash(payload_of("event", row))
            from consentry.ledger.types import to_utc
            h = link_hash(prev, r.seq, r.kind, r.ref, ph, to_utc(r.at))
            conn.execute(text("UPDATE audit_chain SET payload_sha256 = :ph, prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"ph": ph, "p": prev, "h": h, "s": r.seq})
            prev = h
    engine.dispose()


def test_edited_and_relinked_event_is_detected(ledger: Ledger) -> None:
    seqs = _fill(ledger)
    _sql(ledger, "UPDATE consent_events SET choice = 'opt_in' WHERE event_id = 'e2'")
    assert ledger.verify_chain().first_bad_seq == seqs["e2"]  # edited, not re-linked: the row check
    _relink(ledger, seqs["e2"])
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == seqs["e2"] and "re-linked" in report.detail
    # deleting the checkpoints that no longer match does not help either
    _sql(ledger, f"DELETE FROM audit_checkpoints WHERE seq >= {seqs['e2']}")
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == seqs["e2"]


def test_forged_checkpoints_do_not_authenticate(ledger: Ledger) -> None:
    import hashlib
    import hmac

    seqs = _fill(ledger)
    _sql(ledger, "UPDATE consent_events SET choice = 'opt_in' WHERE event_id = 'e2'")
    _relink(ledger, seqs["e2"])
    engine = create_engine(ledger.url)
    with engine.begin() as conn:  # re-made with a guessed key: the real one is not in the database
        for seq, h in conn.execute(text("SELECT seq, hash FROM audit_chain")).all():
            mac = hmac.new(b"guess" * 8, f"{seq}{h}".encode(), hashlib.sha256).hexdigest()
            conn.execute(text("UPDATE audit_checkpoints SET hash = :h, mac = :m WHERE seq = :s"),
                         {"h": h, "m": mac, "s": seq})
    engine.dispose()
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == 1 and "does not authenticate" in report.detail


def test_without_its_key_a_checkpointed_ledger_neither_verifies_nor_writes(ledger: Ledger, _home) -> None:
    from consentry.ledger import AuditKeyError

    _fill(ledger)
    (_home / "keys" / "audit.key").unlink()
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad_seq == 1 and "no audit key" in report.detail
    fresh = Ledger(ledger.url)  # a new process: nothing cached
    with pytest.raises(AuditKeyError, match="restore the key"):
        fresh.append_event("m1", "genai_training", "opt_in", "api", AT, client_request_id="after")
    fresh.close()


@pytest.mark.parametrize(("content", "mode", "why"), [
    ("", 0o600, "is 0 bytes"),
    ("abcd\n", 0o600, "is 2 bytes"),
    ("not hex at all", 0o600, "not hex"),
    ("ab" * 32, 0o644, "readable by others"),
])
def test_a_bad_key_file_is_refused_with_one_clear_line(ledger_url: str, _home, content: str, mode: int,
                                                      why: str) -> None:
    from consentry.ledger import AuditKeyError

    keys = _home / "keys"
    keys.mkdir()
    (keys / "audit.key").write_text(content)
    (keys / "audit.key").chmod(mode)
    led = Ledger(ledger_url).create()
    with pytest.raises(AuditKeyError, match=why):
        led.append_event("m1", "genai_training", "opt_in", "api", AT, client_request_id="k")
    led.close()


def test_key_from_the_environment(ledger: Ledger, _home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_AUDIT_KEY", "cd" * 32)
    _fill(ledger)
    assert not (_home / "keys" / "audit.key").exists()
    assert ledger.verify_chain().ok
    monkeypatch.setenv("CONSENTRY_AUDIT_KEY", "ef" * 32)
    report = ledger.verify_chain()
    assert not report.ok and "another audit key" in report.detail
