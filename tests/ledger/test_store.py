"""Appends, reads, idempotent retries and fail-closed validation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from consentry.ledger import FieldError, Ledger, LedgerConflict
from consentry.network import schema

AT = datetime(2024, 10, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def test_append_and_read_back(ledger: Ledger) -> None:
    rec = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, "2024-09",
                              client_request_id="c-1", jurisdiction="us")
    assert rec.created and rec.seq == 1 and rec.at == AT and rec.jurisdiction == "US"
    ledger.append_event("m1", "genai_training", "opt_in", "api", "2024-11-01T00:00:00Z", client_request_id="c-2")
    ledger.append_event("m2", "ml_personalization", "object", "objection_form", AT, client_request_id="c-3")
    hist = ledger.events_for("m1")
    assert [e.choice for e in hist] == ["opt_out", "opt_in"]
    table = ledger.events_table()
    assert table.schema == schema.CONSENT_EVENTS
    assert table.num_rows == 3
    assert table.column("at").to_pylist()[0] == AT
    assert ledger.events_table(as_of="2024-10-31T23:59:59Z").num_rows == 2
    assert ledger.events_table(upto_seq=1).column("event_id").to_pylist() == [rec.event_id]
    assert ledger.position() == 3


def test_retry_returns_the_original_record(ledger: Ledger) -> None:
    first = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="same")
    again = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="same")
    # even a retry whose body differs is answered with what was recorded, not a second event
    other = ledger.append_event("m1", "genai_training", "opt_in", "api", AT, client_request_id="same")
    assert not again.created and not other.created
    assert again.event_id == other.event_id == first.event_id and again.seq == first.seq
    assert other.choice == "opt_out"
    assert ledger.events_table().num_rows == 1
    assert ledger.position() == 1


def test_unique_constraint_is_the_final_arbiter(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the pre-check misses a concurrent duplicate, the UNIQUE constraint still holds
    and the caller gets the original record."""
    first = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="race")
    monkeypatch.setattr(Ledger, "_known", lambda *a, **k: (set(), {}))
    again = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="race")
    assert not again.created and again.event_id == first.event_id
    assert ledger.events_table().num_rows == 1
    with pytest.raises(IntegrityError):  # a different event under a fresh request id but a taken event_id
        ledger.append_event("m1", "genai_training", "opt_in", "api", AT, client_request_id="other",
                            event_id=first.event_id)
    assert ledger.verify_chain().ok


def test_same_event_id_with_other_content_is_refused(ledger: Ledger) -> None:
    first = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="a",
                                event_id="E1")
    same = ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="a2",
                               event_id="E1")
    assert not same.created and same.seq == first.seq and same.client_request_id == "a"
    with pytest.raises(LedgerConflict, match="E1"):
        ledger.append_event("m1", "genai_training", "opt_in", "settings", AT, client_request_id="b", event_id="E1")
    assert ledger.events_table().num_rows == 1


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("purpose", dict(purpose="marketing")),
        ("choice", dict(choice="maybe")),
        ("source", dict(source="phone")),
        ("at", dict(at="yesterday")),
        ("member_id", dict(member_id="")),
        ("client_request_id", dict(client_request_id=None)),
        ("legal_basis", dict(legal_basis="because")),
    ],
)
def test_invalid_writes_fail_closed(ledger: Ledger, field: str, kwargs: dict) -> None:
    args = dict(member_id="m1", purpose="genai_training", choice="opt_out", source="settings", at=AT,
                client_request_id="x") | kwargs
    with pytest.raises(FieldError) as err:
        ledger.append_event(**args)
    assert err.value.field == field
    assert ledger.position() == 0


def test_bulk_append_counts_every_row(ledger: Ledger) -> None:
    rows = [dict(member_id=f"m{i}", purpose="genai_training", choice="opt_out", source="import", at=AT,
                 client_request_id=f"b-{i}") for i in range(50)]
    rows.append(dict(rows[3]))  # a retry inside the batch
    rows.append(dict(rows[4], purpose="nope", client_request_id="bad"))
    res = ledger.append_events(rows, batch_size=16)
    assert (res.inserted, res.duplicates) == (50, 1)
    assert res.rejected == [{"row": 51, "field": "purpose", "error": res.rejected[0]["error"]}]
    assert res.total == len(rows)
    again = ledger.append_events(rows[:50])
    assert (again.inserted, again.duplicates) == (0, 50)
    assert ledger.events_table().num_rows == 50


def test_receipt_carries_the_27560_fields(ledger: Ledger) -> None:
    led = Ledger(ledger.url, controller={"name": "Example Network Ltd", "contact": "dpo@example.net"})
    rec = led.append_event("m7", "genai_training", "opt_in", "settings", AT, "2025-11",
                           client_request_id="r-1", jurisdiction="DE")
    receipt = ledger.receipt(rec.event_id)
    led.close()
    assert receipt == rec.receipt
    assert receipt["data_controller"] == {"name": "Example Network Ltd", "contact": "dpo@example.net"}
    assert receipt["subject_id"] == "m7" and receipt["purpose"] == "genai_training"
    assert receipt["legal_basis"] == "dpv:Consent" and receipt["jurisdiction"] == "DE"
    assert receipt["notice_version"] == "2025-11" and receipt["channel"] == "settings"
    assert receipt["choice"] == "opt_in" and receipt["event_time"] == "2024-10-01T12:30:15.123456Z"
    assert receipt["version"].startswith("ISO/IEC TS 27560") and receipt["receipt_id"] and receipt["timestamp"]
    with pytest.raises(KeyError):
        ledger.receipt("no-such-event")


def test_request_processing(ledger: Ledger) -> None:
    r1 = ledger.append_request("m1", "erase_items", AT, ["i1", "i2"], client_request_id="q-1")
    r2 = ledger.append_request("m2", "erase_account", "2024-10-02T00:00:00Z", client_request_id="q-2")
    assert ledger.append_request("m1", "erase_items", AT, ["i1", "i2"], client_request_id="q-1").created is False
    assert r1.deadline is not None and (r1.deadline - r1.at).days == 30
    assert [r.request_id for r in ledger.pending_requests()] == [r1.request_id, r2.request_id]
    done = ledger.mark_processed(r1.request_id, {"files_rewritten": 3}, "done-1")
    assert done.status == "processed" and done.result == {"files_rewritten": 3} and done.processed_at
    again = ledger.mark_processed(r1.request_id, {"files_rewritten": 99}, "done-1")
    assert again.result == {"files_rewritten": 3} and len(ledger.request_log(r1.request_id)) == 1
    ledger.mark_processed(r2.request_id, {"error": "model busy"}, "fail-1", status="failed")
    assert ledger.pending_requests() == []
    assert ledger.request(r2.request_id).status == "failed"
    with pytest.raises(KeyError):
        ledger.mark_processed("nope", {}, "x")
    table = ledger.requests_table()
    assert table.schema == schema.REQUESTS
    assert table.column("item_ids").to_pylist() == [["i1", "i2"], None]
    assert ledger.verify_chain().ok


def test_members_notices_and_redaction_names(ledger: Ledger) -> None:
    m = ledger.upsert_member("m1", display_name="Ana Silva", residence_country="BR", birth_date="1990-05-01",
                             is_member=True, joined_at="2019-01-01T00:00:00Z", handle="@ana")
    pos = ledger.position()
    ledger.upsert_member("m1", display_name="Ana Silva", residence_country="BR", birth_date="1990-05-01",
                         is_member=True, joined_at="2019-01-01T00:00:00Z", handle="@ana")
    assert ledger.position() == pos  # unchanged upsert writes nothing
    moved = ledger.upsert_member("m1", display_name="Ana Silva", residence_country="PT", birth_date="1990-05-01",
                                 is_member=True, joined_at="2019-01-01T00:00:00Z", handle="@ana")
    assert moved.residence_country == "PT" and moved.seq > m.seq
    members = ledger.members_table()
    assert members.schema == schema.MEMBERS and members.num_rows == 1
    ledger.append_notice("m1", "2024-09", "2024-09-18T00:00:00Z", client_request_id="n-1")
    ledger.append_notice("m1", "2024-09", "2024-09-18T00:00:00Z", client_request_id="n-1")
    assert ledger.notices_table().num_rows == 1 and ledger.notices_table().schema == schema.NOTICES
    n = ledger.add_redaction_name("Jo Bloggs", "jo@example.org", client_request_id="o-1",
                                  purposes=["genai_training"])
    assert ledger.add_redaction_name("Jo Bloggs", "jo@example.org", client_request_id="o-1").created is False
    assert [(r.name, r.contact, r.purposes) for r in ledger.redaction_names()] == [
        ("Jo Bloggs", "jo@example.org", ["genai_training"])]
    assert n.at is not None
    assert ledger.verify_chain().ok


def test_no_mutation_api_for_events() -> None:
    mutators = [m for m in dir(Ledger) if m.split("_")[0] in {"update", "delete", "remove", "edit", "set", "drop"}]
    assert mutators == []


def test_create_is_rerunnable(ledger: Ledger) -> None:
    ledger.append_event("m1", "genai_training", "opt_out", "settings", AT, client_request_id="k")
    ledger.create()
    from consentry.ledger.migrate import head_revision

    assert ledger.schema_revision() == head_revision()  # the newest migration, whichever branch added it
    assert ledger.events_table().num_rows == 1


def test_receipt_text_is_the_canonical_receipt() -> None:
    """The fast receipt writer produces exactly canonical JSON of the receipt fields."""
    import json
    import uuid

    from consentry.ledger.audit import canonical
    from consentry.ledger.receipts import _NS, build_receipt, receipt_id, receipt_json

    event = dict(event_id='e"1é', member_id="m\\1", purpose="genai_training", choice="opt_in", source="api",
                 notice_version=None, at=AT, client_request_id="c1", legal_basis="dpv:Consent", jurisdiction="DE")
    controller = {"name": "Ex Ltd", "contact": None}
    text = receipt_json(event, canonical(controller), "2026-01-01T00:00:00.000000Z")
    assert text == canonical(build_receipt(event, controller, datetime(2026, 1, 1, tzinfo=timezone.utc)))
    assert json.loads(text)["receipt_id"] == receipt_id(event["event_id"]) == str(uuid.uuid5(_NS, event["event_id"]))
