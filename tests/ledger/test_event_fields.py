"""The consent event is declared once, as the ledger's table (`ledger.models.ConsentEvent`,
which the Alembic migrations follow); every other place that lists its fields is derived
from it or must agree with it, so that adding or changing a field cannot leave one behind
(a field the API returns but the ledger never stores, a limit the API accepts but the
database refuses)."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime

import pyarrow as pa

from consentry.center.api import ChoiceIn, ChoiceOut
from consentry.ledger import chain, validate
from consentry.ledger.models import EVENT_COLUMNS, EVENT_LEDGER_ONLY, ConsentEvent
from consentry.ledger.records import EventRecord
from consentry.network import schema

TABLE = ConsentEvent.__table__


def _optional(annotation: object) -> bool:
    return type(None) in typing.get_args(annotation) if isinstance(annotation, types.UnionType) else False


def test_the_declaration_is_the_table():
    assert list(EVENT_COLUMNS) == [c.name for c in TABLE.columns]
    assert set(EVENT_LEDGER_ONLY) <= set(EVENT_COLUMNS)


def test_record_carries_every_column_with_its_nullability():
    hints = typing.get_type_hints(EventRecord)
    names = [f.name for f in dataclasses.fields(EventRecord) if f.name != "created"]
    assert names == list(EVENT_COLUMNS)
    for name in EVENT_COLUMNS:
        assert _optional(hints[name]) == TABLE.c[name].nullable, name


def test_audit_chain_hashes_every_column():
    assert chain.PAYLOAD_FIELDS["event"] == EVENT_COLUMNS


def test_validation_returns_the_caller_written_columns_within_their_lengths():
    good = {"member_id": "m_1", "purpose": "genai_training", "choice": "opt_out", "source": "settings",
            "at": "2025-01-01T00:00:00Z", "client_request_id": "c1", "jurisdiction": "de"}
    out = validate.event_fields(good)
    assert list(out) == [c for c in EVENT_COLUMNS if c not in EVENT_LEDGER_ONLY]
    for name in ("event_id", "member_id", "notice_version", "client_request_id", "jurisdiction"):
        limit = TABLE.c[name].type.length
        validate.event_fields({**good, name: "x" * limit})  # the column's own length is accepted
        try:
            validate.event_fields({**good, name: "x" * (limit + 1)})
        except validate.FieldError as exc:
            assert exc.field == name
        else:
            raise AssertionError(f"{name}: {limit + 1} characters accepted, the column holds {limit}")


def test_export_schema_is_a_part_of_the_table_with_its_types_and_nullability():
    names = [f.name for f in schema.CONSENT_EVENTS]
    assert names == [c for c in EVENT_COLUMNS if c in names]  # same order, nothing the table lacks
    for f in schema.CONSENT_EVENTS:
        col = TABLE.c[f.name]
        assert f.nullable == col.nullable, f.name
        expected = datetime if pa.types.is_timestamp(f.type) else str
        assert pa.types.is_string(f.type) or pa.types.is_timestamp(f.type), f.name
        col_type = getattr(col.type, "impl", col.type)  # UTCDateTime decorates DateTime
        assert col_type.python_type is expected, f.name


def test_api_model_agrees_with_the_record():
    hints = typing.get_type_hints(EventRecord)
    for name, info in ChoiceOut.model_fields.items():
        if name == "created":
            continue
        assert name in EVENT_COLUMNS, name
        assert _optional(info.annotation) == _optional(hints[name]), name
    limit = TABLE.c.notice_version.type.length
    assert ChoiceIn.model_json_schema()["properties"]["notice_version"]["anyOf"][0]["maxLength"] == limit
