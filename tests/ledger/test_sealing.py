"""The ledger can forget: personal fields are sealed per subject, and an erasure
destroys the subject's key (crypto-shredding) while the audit chain still verifies.

The defect: display names, birth dates and non-members' contacts were stored as plain
text, and deleting them read as tampering. These tests dump the whole database
(SQLite: the file's raw bytes, its WAL, and `iterdump`; PostgreSQL: pg_dump of the
ledger's schema) and look for the personal strings.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, inspect, text

from consentry.ledger import Ledger

AT = datetime(2024, 10, 1, tzinfo=UTC)
MEMBER = dict(display_name="Zebulon Quartermaine", handle="@zquartermaine", birth_date="1987-03-14",
              residence_country="DE", is_member=True)
NONMEMBER = ("Philippa Xanthopoulos", "philippa.xanthopoulos@example.org")
PERSONAL = ("Zebulon", "Quartermaine", "zquartermaine", "1987-03-14", "Philippa", "Xanthopoulos",
            "philippa.xanthopoulos")
KEEPER = dict(display_name="Keeper Ottoline", handle="@keeper", birth_date="1979-11-02")


def _dump(ledger: Ledger) -> bytes:
    """Everything the database holds, as bytes."""
    url = make_url_parts(ledger.url)
    if url["dialect"] == "sqlite":
        path = Path(url["database"])
        con = sqlite3.connect(path)
        dump = "\n".join(con.iterdump()).encode()
        con.close()
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
        return dump + b"".join(p.read_bytes() for p in files if p.exists())
    schema = url["search_path"]
    if shutil.which("pg_dump"):
        out = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", schema, "test"],
                             capture_output=True, check=True)
        return out.stdout
    engine = create_engine(ledger.url)  # no pg_dump: every column of every table as text
    parts = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.append(repr(tuple(row)))
    engine.dispose()
    return "\n".join(parts).encode()


def make_url_parts(url: str) -> dict[str, str]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return {"dialect": "sqlite", "database": u.database or ""}
    opts = parse_qs(urlsplit(url).query).get("options", [""])[0]
    return {"dialect": "postgresql", "search_path": opts.split("search_path=")[-1]}


def _found(dump: bytes, needles: tuple[str, ...]) -> list[str]:
    low = dump.lower()
    return [n for n in needles if n.lower().encode() in low]


def _fill(ledger: Ledger) -> str:
    ledger.upsert_member("m1", **MEMBER)
    ledger.upsert_member("m2", **KEEPER)
    ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="c1")
    ledger.append_request("m1", "erase_account", AT, client_request_id="q1", request_id="r1")
    return ledger.add_redaction_name(*NONMEMBER, client_request_id="o1").subject_id  # type: ignore[return-value]


def test_personal_fields_are_never_stored_in_plain_text(ledger: Ledger) -> None:
    nonmember = _fill(ledger)
    assert _found(_dump(ledger), PERSONAL) == []
    # ...yet every reader returns them, as before
    m = ledger.member("m1")
    assert (m.display_name, m.handle, str(m.birth_date)) == ("Zebulon Quartermaine", "@zquartermaine", "1987-03-14")
    row = next(r for r in ledger.members_table().to_pylist() if r["member_id"] == "m1")
    assert row["display_name"] == "Zebulon Quartermaine" and str(row["birth_date"]) == "1987-03-14"
    names = ledger.redaction_names()
    assert [(n.name, n.contact, n.subject_id) for n in names] == [(*NONMEMBER, nonmember)]
    assert ledger.verify_chain().ok


def test_erasure_shreds_the_subject_and_the_chain_still_verifies(ledger: Ledger) -> None:
    from consentry.forgetting.run import forget
    from consentry.settings import Settings

    nonmember = _fill(ledger)
    with ledger._rengine.connect() as conn:
        key = bytes(conn.execute(text("SELECT key FROM subject_keys WHERE subject_id = 'm1'")).scalar_one())
    # the erasure path itself: `forget` processes the erase_account request
    settings = Settings()
    rep = forget("r1", settings=settings, ledger=ledger, root=settings.home / "snapshots", retrain=False)
    assert rep.requests_processed == ["r1"] and ledger.request("r1").status == "processed"
    shred = ledger.shred_subject(nonmember)  # a non-member's objection is erased the same way
    assert shred.shredded == [nonmember] and shred.storage_purged, shred.detail

    dump = _dump(ledger)
    assert _found(dump, PERSONAL) == []
    assert key not in dump and key.hex().encode() not in dump  # the key itself is gone
    assert b"Keeper" not in dump and ledger.member("m2").display_name == "Keeper Ottoline"  # others unharmed

    m = ledger.member("m1")
    assert (m.display_name, m.handle, m.birth_date) == (None, None, None)
    assert m.residence_country == "DE" and m.is_member is True  # not personal strings: kept for the plan
    row = next(r for r in ledger.members_table().to_pylist() if r["member_id"] == "m1")
    assert row["display_name"] is None and row["birth_date"] is None
    assert [(n.name, n.contact) for n in ledger.redaction_names()] == [(None, None)]
    assert [e.member_id for e in ledger.events_for("m1")] == ["m1"]  # ids stay, to prove the erasure

    report = ledger.verify_chain()
    assert report.ok, report.text()  # shredding is an audit link, not tampering
    again = ledger.shred_subject("m1")
    assert again.shredded == [] and again.already == ["m1"]


def test_an_erased_subject_is_not_learnt_again(ledger: Ledger) -> None:
    ledger.upsert_member("m1", **MEMBER)
    ledger.shred_subject("m1")
    pos = ledger.position()
    ledger.upsert_member("m1", **MEMBER)  # a re-import of the platform's export
    assert ledger.position() == pos  # personal fields dropped: nothing new to write
    ledger.upsert_member("m1", **{**MEMBER, "residence_country": "FR"})
    m = ledger.member("m1")
    assert m.residence_country == "FR" and m.display_name is None
    assert _found(_dump(ledger), PERSONAL) == []
    ledger.shred_subject("never-seen")  # shredding first leaves a tombstone key
    ledger.upsert_member("never-seen", display_name="Zebulon Quartermaine")
    assert ledger.member("never-seen").display_name is None
    assert ledger.verify_chain().ok


def test_key_tampering_is_reported(ledger: Ledger) -> None:
    _fill(ledger)
    engine = create_engine(ledger.url)
    with engine.begin() as conn:  # destroying a key behind the ledger's back is not an erasure
        conn.execute(text("UPDATE subject_keys SET key = NULL WHERE subject_id = 'm2'"))
        conn.execute(text("DELETE FROM subject_keys WHERE subject_id = 'm1'"))
    engine.dispose()
    report = ledger.verify_chain()
    assert not report.ok
    whys = " ".join(why for _, why in report.problems)
    assert "'m2' was destroyed outside the ledger" in whys and "'m1' was deleted outside the ledger" in whys


def test_sealed_values_are_bound_to_their_subject(ledger: Ledger) -> None:
    ledger.upsert_member("m1", **MEMBER)
    ledger.upsert_member("m2", **KEEPER)
    engine = create_engine(ledger.url)
    with engine.begin() as conn:  # copying one member's sealed name onto another does not open
        conn.execute(text("UPDATE members SET display_name = "
                          "(SELECT display_name FROM members WHERE member_id = 'm1') WHERE member_id = 'm2'"))
    engine.dispose()
    with pytest.raises(ValueError, match="does not open under its key"):
        ledger.member("m2")

