"""Property: corrupting any field of any row leaves the row quarantined or valid, never lost."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry import vocab
from consentry.network import schema
from consentry.network.reader import iter_file
from consentry.network.validate import validate

from .helpers import rows_of, write_table

FIELDS = [f.name for f in schema.ITEMS] + ["unexpected"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
    st.lists(st.one_of(st.text(max_size=6), st.none(), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["", " ", "2024-02-30", "2024-01-01T00:00:00Z", "2024-01-01", "1969-12-31T00:00:00Z",
                     "2024-01-01T25:00:00Z", "public", "post", "PRIVATE", "US", "m0000001"]),
)


def _account(path: Path) -> tuple[set[int], set[int], list[dict]]:
    clean_rows, bad_rows, clean = set(), set(), []
    for rb in iter_file(path, "items"):
        bad_rows.update(r for r, *_ in rb.rejected)
        if rb.table.num_rows:
            good, bad, errors = validate("items", rb.table)
            assert len(errors) == int(bad.sum())
            bad_rows.update(int(rb.rows[i]) for i, _, _ in errors)
            clean_rows.update(int(r) for r in rb.rows[~bad])
            clean.extend(dict(row, _row=int(r)) for row, r in zip(good.to_pylist(), rb.rows[~bad]))
            assert good.schema.equals(schema.ITEMS)
            for f in schema.ITEMS:
                if not f.nullable:
                    assert good.column(f.name).null_count == 0
            assert pc.all(pc.is_in(good["kind"], value_set=pa.array(vocab.CONTENT_KINDS))).as_py() in (True, None)
    return clean_rows, bad_rows, clean


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, 11), field=st.sampled_from(FIELDS), value=VALUES, truncate=st.integers(-1, 60))
def test_corrupted_field_is_quarantined_or_valid(tmp_path_factory, tiny_export, row, field, value, truncate):
    rows = rows_of(tiny_export, "items")[:12]
    rows[row][field] = value
    lines = [json.dumps(r) for r in rows]
    if truncate >= 0:
        lines[row] = lines[row][:truncate]
    path = tmp_path_factory.mktemp("prop") / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")
    clean_rows, bad_rows, clean = _account(path)
    assert clean_rows.isdisjoint(bad_rows)
    assert clean_rows | bad_rows == set(range(len(rows)))
    assert set(range(len(rows))) - {row} <= clean_rows  # untouched rows stay clean
    if row in clean_rows:
        kept = next(c for c in clean if c["_row"] == row)
        assert kept["kind"] in vocab.CONTENT_KINDS
        assert kept["visibility"] in {v.value for v in vocab.Visibility}
        assert kept["item_id"].strip() and kept["member_id"].strip()


STRINGS = st.one_of(st.none(), st.text(max_size=12),
                    st.sampled_from(["", " ", "2024-02-30", "2024-01-01T00:00:00Z", "post", "public", "XX"]))
PARQUET_VALUES = {  # a Parquet column has one type, so a corruption keeps the column's type
    "group_sensitive": st.one_of(st.none(), st.booleans()),
    "mentions": st.one_of(st.none(), st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=3)),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, 11), data=st.data())
def test_corrupted_parquet_field_is_quarantined_or_valid(tmp_path_factory, tiny_export, row, data):
    field = data.draw(st.sampled_from([f.name for f in schema.ITEMS]))
    value = data.draw(PARQUET_VALUES.get(field, STRINGS))
    rows = rows_of(tiny_export, "items")[:12]
    rows[row][field] = value
    path = write_table(tmp_path_factory.mktemp("propq"), "items", rows, "parquet")
    clean_rows, bad_rows, _ = _account(path)
    assert clean_rows.isdisjoint(bad_rows)
    assert clean_rows | bad_rows == set(range(len(rows)))
    assert set(range(len(rows))) - {row} <= clean_rows
