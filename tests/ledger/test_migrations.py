"""The Alembic migrations create exactly the schema the models declare, and upgrade
a ledger written before personal fields were sealed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from consentry.ledger import Ledger
from consentry.ledger.audit import GENESIS, link_hash, payload_hash
from consentry.ledger.migrate import head_revision, upgrade
from consentry.ledger.models import Base
from consentry.ledger.types import iso

from .test_sealing import _dump, _found

AT = datetime(2024, 10, 1, tzinfo=UTC)


def test_migrations_match_models(ledger: Ledger) -> None:
    assert ledger.schema_revision() == head_revision()
    with ledger._rengine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def _old_ledger(url: str) -> None:
    """A ledger at revision 0001 holding plain-text names, as the code before sealing wrote it."""
    engine = create_engine(url)
    rows = [
        ("member", "m1", {"seq": 1, "member_id": "m1", "display_name": "Winifred Oyelaran", "handle": "@winnie",
                          "residence_country": "GB", "birth_date": date(1991, 7, 9), "is_member": True,
                          "joined_at": None, "closed_at": None}),
        ("redaction_name", "o1", {"seq": 2, "name": "Casimir Pomeroy", "contact": "casimir@example.org",
                                  "purposes": None, "at": AT, "client_request_id": "o1"}),
        ("notice", "m1", {"seq": 3, "member_id": "m1", "notice_version": "2024-09", "delivered_at": AT,
                          "client_request_id": "n1", "recorded_at": AT}),
    ]
    with engine.begin() as conn:
        upgrade(conn, "0001")
        prev = GENESIS
        for kind, ref, row in rows:
            payload = {k: (iso(v) if isinstance(v, datetime) else v.isoformat() if isinstance(v, date) else v)
                       for k, v in row.items()}
            ph = payload_hash(payload)
            h = link_hash(prev, row["seq"], kind, ref, ph, AT)
            table = {"member": "members", "redaction_name": "redaction_names", "notice": "notices"}[kind]
            conn.execute(text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"),
                         row)
            conn.execute(text("INSERT INTO audit_chain (seq, kind, ref, payload_sha256, prev_hash, hash, at) "
                              "VALUES (:s, :k, :r, :p, :prev, :h, :at)"),
                         dict(s=row["seq"], k=kind, r=ref, p=ph, prev=prev, h=h, at=AT))
            prev = h
    engine.dispose()


def test_an_existing_ledger_is_sealed_by_the_upgrade(ledger_url: str) -> None:
    _old_ledger(ledger_url)
    old = Ledger(ledger_url)
    assert old.schema_revision() == "0001"
    old.close()

    led = Ledger(ledger_url).create()  # e19ledger_0002 seals the plain text in the migration
    assert led.schema_revision() == head_revision()
    assert _found(_dump(led), ("Winifred", "Oyelaran", "winnie", "1991-07-09", "Casimir", "casimir@")) == []
    m = led.member("m1")
    assert (m.display_name, m.handle, m.birth_date) == ("Winifred Oyelaran", "@winnie", date(1991, 7, 9))
    assert [(n.name, n.contact) for n in led.redaction_names()] == [("Casimir Pomeroy", "casimir@example.org")]
    report = led.verify_chain()
    assert report.ok, report.text()  # one "reseal" link per sealed row keeps the chain whole

    led.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="after")
    assert led.verify_chain().ok  # the first checkpoint covers the upgraded chain
    led.shred_subject("m1")
    assert led.member("m1").display_name is None and led.verify_chain().ok
    led.close()
