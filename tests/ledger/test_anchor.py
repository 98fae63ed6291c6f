"""The audit key and the head file kept outside the database."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from consentry.ledger import Ledger
from consentry.ledger.anchor import head_path, read_head, write_head

AT = datetime(2024, 10, 1, tzinfo=UTC)


def _ledger_id(ledger: Ledger) -> str:
    assert ledger._anchor is not None
    return ledger._anchor[1]


def test_first_write_makes_a_private_key_outside_the_database(ledger: Ledger, _home: Path) -> None:
    ledger.append_event("m1", "genai_training", "opt_in", "api", AT, client_request_id="c1")
    key = _home / "keys" / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = key.read_text().strip()
    assert len(bytes.fromhex(secret)) == 32
    if ledger.dialect == "sqlite":
        dump = Path(ledger.url.removeprefix("sqlite:///")).read_bytes()
        assert secret.encode() not in dump and bytes.fromhex(secret) not in dump
    head = read_head(_home / "keys", _ledger_id(ledger))
    assert head is not None and head["seq"] == ledger.position()


def test_head_file_never_goes_back(tmp_path: Path) -> None:
    write_head(tmp_path, "L", {"seq": 9, "hash": "h9", "key_id": "k", "mac": "m9"})
    write_head(tmp_path, "L", {"seq": 7, "hash": "h7", "key_id": "k", "mac": "m7"})  # a slower writer
    assert read_head(tmp_path, "L")["seq"] == 9
    write_head(tmp_path, "L", {"seq": 10, "hash": "h10", "key_id": "k", "mac": "m10"})
    assert read_head(tmp_path, "L")["hash"] == "h10"


def test_a_torn_head_file_is_named_and_repaired_by_the_next_write(ledger: Ledger, _home: Path) -> None:
    ledger.append_event("m1", "genai_training", "opt_in", "api", AT, client_request_id="c1")
    path = head_path(_home / "keys", _ledger_id(ledger))
    path.write_bytes(b'{"seq": 1, "ha')
    report = ledger.verify_chain()
    assert not report.ok and "unreadable" in report.detail
    ledger.append_event("m1", "genai_training", "opt_out", "api", AT, client_request_id="c2")
    assert ledger.verify_chain().ok
