"""Operators, density drop, the Arrow batch API, pickling and parallel order."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from consentry.redact import MemberDirectory, RedactConfig, Redactor, find_spans, redact_parallel
from consentry.vocab import PiiType

MEMBERS = pa.table({"member_id": ["m1", "m2"], "display_name": ["Ana Silva", "Bruno Costa"], "handle": ["anas", None]})


def test_find_spans_on_arrow_and_lists_with_nulls():
    texts = ["mail ana@example.com", None, "", "call +44 7700 900123"]
    for arr in (texts, pa.array(texts), pa.chunked_array([texts[:2], texts[2:]])):
        spans = find_spans(arr)
        assert [[s.type for s in row] for row in spans] == [[PiiType.EMAIL], [], [], [PiiType.PHONE]]


def test_find_spans_types_filter():
    t = ["ana@example.com from 10.0.0.1"]
    assert [s.type for s in find_spans(t, types=["IP_ADDRESS"])[0]] == [PiiType.IP_ADDRESS]


def test_mask():
    r = Redactor(RedactConfig(max_pii_density=None), MemberDirectory.from_members(MEMBERS))
    text, n, dropped = r.redact_text("Ana Silva's email is ana@example.com, ping @anas")
    assert text == "[PERSON]'s email is [EMAIL], ping [HANDLE]"
    assert (n, dropped) == (3, False)


def test_pseudonyms_consistent_per_member_and_key():
    d = MemberDirectory.from_members(MEMBERS)
    r = Redactor(RedactConfig(operator="pseudonymise", max_pii_density=None), d, key=b"k1")
    a1, _, _ = r.redact_text("Ana Silva wrote to Bruno Costa.")
    a2, _, _ = r.redact_text("Later, ana silva met Bruno Costa again.")
    fake_ana = a1.split(" wrote")[0]
    fake_bruno = a1.split("to ")[1].rstrip(".")
    assert "Ana Silva" not in a1 and fake_ana != fake_bruno
    assert fake_ana in a2 and fake_bruno in a2
    other_key, _, _ = Redactor(RedactConfig(operator="pseudonymise", max_pii_density=None), d, key=b"k2").redact_text(
        "Ana Silva wrote to Bruno Costa."
    )
    assert other_key != a1  # a different key gives different fakes


def test_pseudonym_requires_key():
    with pytest.raises(ValueError, match="key"):
        Redactor(RedactConfig(operator="pseudonymise"))


def test_density_drop():
    r = Redactor(RedactConfig(max_pii_density=0.4))
    text, n, dropped = r.redact_text("ana@example.com bob@example.com")
    assert (text, n, dropped) == (None, 2, True)
    text, n, dropped = r.redact_text("Please write to ana@example.com about the quarterly planning meeting")
    assert dropped is False and "[EMAIL]" in text


def test_always_redact_extra_names():
    r = Redactor(RedactConfig(always_redact=("Zygmunt Qwerty",), max_pii_density=None))
    text, _, _ = r.redact_text("I objected, said Zygmunt Qwerty.")
    assert "Zygmunt" not in text and "[PERSON]" in text


def batch() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "item_id": pa.array([f"i{i}" for i in range(6)]),
            "member_id": pa.array(["m1"] * 6),
            "text": pa.array(
                ["hello, this is Ana Silva writing", None, "card 4454 7945 1139 0933 please pay me soon", "", "no pii here", "x@y.com"]
            ),
        }
    )


def test_redact_batch_schema_order_and_ids():
    r = Redactor(RedactConfig(), MemberDirectory.from_members(MEMBERS))
    out = r.redact_batch(batch())
    assert out.schema.names == ["item_id", "member_id", "text", "pii_count", "dropped"]
    assert out.schema.field("pii_count").type == pa.int32()
    assert out.column("item_id").to_pylist() == [f"i{i}" for i in range(6)]
    assert out.column("text").to_pylist() == [
        "hello, this is [PERSON] writing", None, "card [CREDIT_CARD] please pay me soon", "", "no pii here", None
    ]
    assert out.column("pii_count").to_pylist() == [1, 0, 1, 0, 0, 1]
    assert out.column("dropped").to_pylist() == [False, False, False, False, False, True]


def test_redact_batch_requires_text_column():
    with pytest.raises(KeyError, match="text"):
        Redactor().redact_batch(pa.record_batch({"body": ["x"]}))


def test_pickle_roundtrip_is_deterministic():
    r = Redactor(RedactConfig(operator="pseudonymise"), MemberDirectory.from_members(MEMBERS), key=b"secret")
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.redact_batch(batch()).equals(r.redact_batch(batch()))


def test_redact_parallel_keeps_batch_order():
    r = Redactor(RedactConfig(), MemberDirectory.from_members(MEMBERS))
    batches = [
        pa.record_batch({"item_id": [f"b{j}-{i}" for i in range(3)], "text": [f"Ana Silva {j}", "x", None]})
        for j in range(8)
    ]
    out = list(redact_parallel(r, batches, workers=2))
    assert [b.column("item_id").to_pylist() for b in out] == [b.column("item_id").to_pylist() for b in batches]
    assert out == [r.redact_batch(b) for b in batches]
