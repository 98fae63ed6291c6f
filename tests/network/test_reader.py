"""Reading and staging exports: every malformed row quarantined with file, row and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consentry.network import schema, views
from consentry.network.reader import ExportError, read_export, stage_cached, stage_export
from consentry.network.validate import PRIMARY_KEYS

from .helpers import copy_export, rows_of

# (table, field, bad value, why) - one kind of malformation each
MALFORMED = [
    ("items", "created_at", "2024-13-45T00:00:00Z", "bad date"),
    ("items", "created_at", "2024-02-30T10:00:00Z", "impossible date"),
    ("items", "created_at", "yesterday", "unparseable timestamp"),
    ("items", "created_at", None, "missing required timestamp"),
    ("members", "birth_date", "1990-02-31", "impossible birth date"),
    ("items", "kind", "tweet", "unknown kind"),
    ("items", "visibility", "friends", "unknown visibility"),
    ("consent_events", "purpose", "marketing", "unknown purpose"),
    ("consent_events", "choice", "maybe", "unknown choice"),
    ("consent_events", "source", "fax", "unknown source"),
    ("requests", "kind", "delete_everything", "unknown request kind"),
    ("items", "item_id", None, "missing id"),
    ("members", "member_id", "", "empty id"),
    ("items", "member_id", "  ", "blank author id"),
    ("members", "residence_country", "Germany", "country not alpha-2"),
    ("members", "residence_country", "de", "country lower case"),
    ("signins", "ip", "999.1.1.1", "not an IP"),
    ("job_interactions", "action", "like", "unknown job action"),
    ("items", "mentions", ["m0000001", ""], "empty id in a list"),
]


@pytest.fixture(scope="module")
def base(tiny_export: Path) -> Path:
    return tiny_export


def _quarantine(staged) -> list[dict]:
    return [json.loads(line) for line in staged.quarantine_path.read_text().splitlines()]


def _assert_nothing_lost(src: Path, staged) -> None:
    for name in schema.EXPORT_TABLES:
        clean = pq.read_table(staged.tables[name]).num_rows
        assert clean == staged.counts[name]
        assert clean + staged.quarantined[name] == staged.input_rows[name], name
    q = _quarantine(staged)
    assert len(q) == sum(staged.quarantined.values())


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
@pytest.mark.parametrize("table,field,bad,why", MALFORMED, ids=[m[3] for m in MALFORMED])
def test_malformed_row_is_quarantined(tmp_path, base, fmt, table, field, bad, why) -> None:
    rows = rows_of(base, table)
    key = PRIMARY_KEYS.get(table)
    while len(rows) < 5:  # a few more rows (new ids) where the small export has too few
        rows.append(dict(rows[0], **({key: f"{rows[0][key]}-{len(rows)}"} if key else {})))
    rows[3][field] = bad
    src = copy_export(base, tmp_path / "src", fmt, {table: rows})
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert len(q) == 1, q
    assert q[0]["table"] == table and q[0]["file"] == f"{table}.{fmt}"
    assert q[0]["row"] == 3 and q[0]["field"] == field
    assert q[0]["error"] and q[0]["raw"]
    assert staged.quarantined[table] == 1
    _assert_nothing_lost(src, staged)


@pytest.mark.parametrize("field,bad", [("item_id", 123), ("mentions", "m0000001"),
                                       ("group_sensitive", "yes"), ("created_at", 1700000000),
                                       ("text", {"a": 1})])
def test_wrong_json_type_is_quarantined(tmp_path, base, field, bad) -> None:
    rows = rows_of(base, "items")
    rows[7][field] = bad
    src = copy_export(base, tmp_path / "src", "jsonl", {"items": rows})
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["row"], r["field"]) for r in q] == [(7, field)]
    assert "wrong type" in q[0]["error"]
    _assert_nothing_lost(src, staged)


def test_unparseable_json_lines_keep_their_line_number(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "jsonl")
    lines = (src / "members.jsonl").read_text().splitlines()
    lines[2] = '{"member_id": "m0000002", "display_name": '
    lines[4] = "[1, 2, 3]"
    lines[6] = ""
    (src / "members.jsonl").write_text("\n".join(lines) + "\n")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = sorted(_quarantine(staged), key=lambda r: r["row"])
    assert [(r["row"], r["field"]) for r in q] == [(2, "*"), (4, "*"), (6, "*")]
    assert "invalid JSON" in q[0]["error"] and "object" in q[1]["error"] and "blank" in q[2]["error"]
    _assert_nothing_lost(src, staged)


def _break_utf8(path: Path, row: int, field: str) -> None:
    """Put two bytes that are not UTF-8 at the start of `field`'s value on line `row`."""
    lines = path.read_bytes().split(b"\n")
    key = f'"{field}": '.encode()
    at = lines[row].index(key) + len(key)
    at += lines[row][at:].index(b'"') + 1  # inside the string (or the list's first string)
    lines[row] = lines[row][:at] + b"\xff\xfe" + lines[row][at:]
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("careful", [False, True], ids=["fast path", "line by line"])
@pytest.mark.parametrize(("table", "field"), [("members", "display_name"), ("members", "member_id"),
                                              ("items", "text"), ("items", "mentions")])
def test_invalid_utf8_in_jsonl_is_quarantined_row_by_row(tmp_path, base, table, field, careful) -> None:
    """Before: members.jsonl raised UnicodeDecodeError/ArrowInvalid; items.jsonl staged the bytes
    (nothing quarantined) and `snapshot build` then failed on them."""
    rows = rows_of(base, table)
    rows[3][field] = ["m0000001"] if field == "mentions" else (rows[3][field] or "x")
    src = copy_export(base, tmp_path / "src", "jsonl", {table: rows})
    _break_utf8(src / f"{table}.jsonl", 3, field)
    expected = [(3, field)]
    if careful:  # a second bad line in the block sends it down the line-by-line parser
        lines = (src / f"{table}.jsonl").read_bytes().split(b"\n")
        lines[1] = b'{"broken": '
        (src / f"{table}.jsonl").write_bytes(b"\n".join(lines))
        expected = [(1, "*"), (3, field)]
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = sorted(_quarantine(staged), key=lambda r: r["row"])
    assert [(r["row"], r["field"]) for r in q] == expected
    assert q[-1]["file"] == f"{table}.jsonl" and "invalid UTF-8" in q[-1]["error"]
    assert "\ufffd" in q[-1]["raw"]  # shown, with the bad bytes replaced
    staged_rows = pq.read_table(staged.tables[table])
    staged_rows.validate(full=True)  # nothing that is not UTF-8 reaches the staged Parquet
    _assert_nothing_lost(src, staged)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_absent_tables_and_columns_are_recorded_not_read_as_none(tmp_path, base, fmt) -> None:
    """Staging cannot know which inputs the pack needs; it records what the export lacked
    (`missing_inputs`), and `policy.requirements` stops a decision that needs it."""
    members = [{k: v for k, v in r.items() if k != "birth_date"} for r in rows_of(base, "members")]
    src = copy_export(base, tmp_path / "src", fmt, {"members": members})
    (src / f"consent_events.{fmt}").unlink()
    if fmt == "parquet":  # copy_export writes every declared column: drop it from the file
        t = pq.read_table(src / "members.parquet")
        pq.write_table(t.drop_columns(["birth_date"]), src / "members.parquet")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    got = {(m["table"], m["file"], m["column"]) for m in staged.missing_inputs()}
    assert got == {("members", f"members.{fmt}", "birth_date"), ("consent_events", None, None)}
    assert staged.counts["members"] == len(members)  # the rows themselves are fine
    _assert_nothing_lost(src, staged)


def test_a_column_of_an_unreadable_type_is_recorded(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "parquet")
    t = pq.read_table(src / "members.parquet")
    t = t.set_column(t.schema.get_field_index("birth_date"), "birth_date", pa.array(range(t.num_rows)))
    pq.write_table(t, src / "members.parquet")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    [m] = staged.missing_inputs()
    assert (m["table"], m["column"]) == ("members", "birth_date")
    assert m["problem"] == "of type int64, which cannot be read as date32[day]"


def test_a_complete_export_misses_nothing_and_doubts_no_one(tmp_path, base) -> None:
    staged = stage_export(base, tmp_path / "staged", progress=False)
    assert staged.missing_inputs() == [] and staged.member_issues() == []


@pytest.mark.parametrize(("table", "field", "bad", "listed"), [
    ("consent_events", "at", "last tuesday", True),  # an opt-out nobody can date
    ("requests", "kind", "delete_everything", True),
    ("signins", "ip", "999.1.1.1", True),  # a sign-in country nobody can tell
    ("notices", "delivered_at", "soon", False),  # a lost notice can only exclude more
    ("items", "kind", "tweet", False),  # the item itself is out; the member's others are not in doubt
])
def test_a_quarantined_row_puts_its_member_in_doubt(tmp_path, base, table, field, bad, listed) -> None:
    rows = rows_of(base, table)
    rows[0][field] = bad
    src = copy_export(base, tmp_path / "src", "jsonl", {table: rows})
    staged = stage_export(src, tmp_path / "staged", progress=False)
    issues = staged.member_issues()
    if listed:
        assert [(i["member_id"], i["table"]) for i in issues] == [(rows[0]["member_id"], table)]
        assert issues[0]["error"].startswith(f"{table}.jsonl row 0: {field}: ")
    else:
        assert issues == []


@pytest.mark.parametrize("field", ["text", "mentions"])
def test_invalid_utf8_in_a_typed_parquet_file_is_quarantined(tmp_path, base, field) -> None:
    """A file with the declared types is checked without decoding rows, but its free text
    must still be UTF-8 (the Parquet reader does not check), else the build fails on it."""
    src = copy_export(base, tmp_path / "src", "parquet")
    items = pq.read_table(base / "items.parquet")
    i = items.schema.get_field_index(field)
    col = items.column(field).combine_chunks()
    if field == "text":
        raw = [v.encode() if v is not None else None for v in col.to_pylist()]
        raw[3] = b"\xff\xfe" + (raw[3] or b"")
        offsets = np.cumsum([0] + [len(v or b"") for v in raw], dtype=np.int32)
        bad = pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(offsets),
                                                            pa.py_buffer(b"".join(v or b"" for v in raw))])
    else:
        lists = col.to_pylist()
        lists[3] = ["m0000001"]
        flat = [x.encode() for v in lists for x in (v or [])]
        k = sum(len(v or []) for v in lists[:3])
        flat[k] = b"\xff" + flat[k]
        offs = np.cumsum([0] + [len(x) for x in flat], dtype=np.int32)
        values = pa.Array.from_buffers(pa.string(), len(flat), [None, pa.py_buffer(offs), pa.py_buffer(b"".join(flat))])
        bad = pa.ListArray.from_arrays(pa.array(np.cumsum([0] + [len(v or []) for v in lists]), pa.int32()), values)
    pq.write_table(items.set_column(i, items.schema.field(i), bad), src / "items.parquet")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["file"], r["row"], r["field"]) for r in q] == [("items.parquet", 3, field)]
    assert "invalid UTF-8" in q[0]["error"]
    pq.read_table(staged.tables["items"]).validate(full=True)
    _assert_nothing_lost(src, staged)


def test_a_key_repeated_in_a_jsonl_row_is_quarantined(tmp_path, base) -> None:
    """`"residence_country": "DE", "residence_country": "US"`: a JSON parser keeps the last
    value silently; which one is true is unknown, so the row is quarantined."""
    src = copy_export(base, tmp_path / "src", "jsonl")
    lines = (src / "members.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"residence_country": ', '"residence_country": "US", "residence_country": ', 1)
    (src / "members.jsonl").write_text("\n".join(lines) + "\n")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["row"], r["field"]) for r in q] == [(2, "residence_country")]
    assert "given twice" in q[0]["error"]
    assert [i["table"] for i in staged.member_issues()] == ["members"]
    _assert_nothing_lost(src, staged)


def test_wrong_parquet_column_type_quarantines_its_rows(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "parquet")
    t = pq.read_table(src / "items.parquet")
    t = t.set_column(t.schema.get_field_index("group_sensitive"), "group_sensitive",
                     pa.array([str(v) for v in t["group_sensitive"].to_pylist()]))
    pq.write_table(t, src / "items.parquet")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert len(q) == t.num_rows and {r["field"] for r in q} == {"group_sensitive"}
    assert staged.counts["items"] == 0
    _assert_nothing_lost(src, staged)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_contradictory_duplicates_are_all_quarantined_and_the_member_listed(tmp_path, base, fmt) -> None:
    """Before: the first row was kept and the later one quarantined, so whoever ordered the
    rows chose which one was true (a copy with residence US placed first made an EEA
    member's data trainable)."""
    rows = rows_of(base, "members")
    real = dict(rows[1])
    rows[1] = dict(real, residence_country="US" if real["residence_country"] != "US" else "DE")
    rows.insert(5, real)
    src = copy_export(base, tmp_path / "src", fmt, {"members": rows})
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["row"], r["field"]) for r in q] == [(1, "member_id"), (5, "member_id")]
    assert all("contradictory duplicate member_id" in r["error"] for r in q)
    kept = pq.read_table(staged.tables["members"]).column("member_id").to_pylist()
    assert real["member_id"] not in kept and len(kept) == len(rows) - 2
    assert [(i["member_id"], i["table"]) for i in staged.member_issues()] == [(real["member_id"], "members")]
    _assert_nothing_lost(src, staged)


@pytest.mark.parametrize(("table", "field", "other", "doubt"), [
    ("requests", "item_ids", ["i-other"], True),  # which items did the member ask to erase?
    ("consent_events", "choice", "opt_in", True),  # did they opt out or in?
    ("items", "visibility", "public", False),  # the item is out; its member is not in doubt
])
def test_contradictory_duplicates_in_other_tables(tmp_path, base, table, field, other, doubt) -> None:
    rows = rows_of(base, table)
    key = PRIMARY_KEYS[table]
    copy = dict(rows[0], **{field: other if rows[0][field] != other else None})
    rows.append(copy)
    src = copy_export(base, tmp_path / "src", "parquet", {table: rows})
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["row"], r["field"]) for r in q] == [(0, key), (len(rows) - 1, key)]
    assert rows[0][key] not in pq.read_table(staged.tables[table]).column(key).to_pylist()
    assert [i["member_id"] for i in staged.member_issues()] == ([rows[0]["member_id"]] if doubt else [])
    _assert_nothing_lost(src, staged)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_identical_duplicates_collapse_to_the_first(tmp_path, base, fmt) -> None:
    rows = rows_of(base, "members")
    rows.insert(5, dict(rows[1]))
    src = copy_export(base, tmp_path / "src", fmt, {"members": rows})
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["row"], r["field"]) for r in q] == [(5, "member_id")]
    assert "identical to an earlier row" in q[0]["error"]
    kept = pq.read_table(staged.tables["members"]).to_pylist()
    assert [r["member_id"] for r in kept] == [r["member_id"] for i, r in enumerate(rows) if i != 5]
    assert staged.member_issues() == []  # nothing about the member is in doubt
    _assert_nothing_lost(src, staged)


def test_parts_directory_numbers_rows_per_file(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "parquet")
    items = pq.read_table(src / "items.parquet")
    (src / "items.parquet").unlink()
    (src / "items").mkdir()
    half = items.num_rows // 2
    pq.write_table(items.slice(0, half), src / "items" / "part-0.parquet")
    second = items.slice(half).to_pylist()
    second[2]["kind"] = "tweet"
    pq.write_table(pa.Table.from_pylist(second, schema=items.schema), src / "items" / "part-1.parquet")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["file"], r["row"], r["field"]) for r in q] == [("items/part-1.parquet", 2, "kind")]
    assert [f["path"] for f in staged.watermarks["items"]["files"]] == ["items/part-0.parquet", "items/part-1.parquet"]
    _assert_nothing_lost(src, staged)


def test_missing_required_table_is_a_clear_error(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "parquet")
    (src / "items.parquet").unlink()
    with pytest.raises(ExportError, match="items"):
        stage_export(src, tmp_path / "staged", progress=False)
    assert not (tmp_path / "staged").exists()


def test_missing_optional_tables_are_empty_with_schema(tmp_path, base) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("members", "items"):
        shutil.copy(base / f"{name}.parquet", src / f"{name}.parquet")
    export = read_export(src)
    for name in schema.OPTIONAL_TABLES:
        assert export.tables[name].num_rows == 0
        assert export.tables[name].schema.equals(schema.TABLES[name])
    assert export.tables["items"].num_rows > 0 and export.quarantine.num_rows == 0


def test_watermarks_and_views(tmp_path, base) -> None:
    staged = stage_export(base, tmp_path / "staged", progress=False)
    wm = staged.watermarks["items"]
    assert wm["files"][0]["path"] == "items.parquet" and len(wm["files"][0]["sha256"]) == 64
    assert wm["rows"] == pq.read_metadata(base / "items.parquet").num_rows
    items = pq.read_table(base / "items.parquet")
    assert wm["max_timestamp"] == pa.compute.max(items["created_at"]).as_py().isoformat()
    con = duckdb.connect()
    assert set(views.register(con, staged.dest)) == set(schema.TABLES)
    for name in schema.EXPORT_TABLES:
        assert con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == staged.counts[name]
    kinds = con.execute("SELECT count(DISTINCT kind) FROM items").fetchone()[0]
    assert kinds == 15
    # staging again replaces the directory atomically and gives the same fingerprint
    again = stage_export(base, tmp_path / "staged", progress=False)
    assert again.fingerprint == staged.fingerprint


def test_naive_and_offset_timestamps_are_read_as_utc(tmp_path, base) -> None:
    rows = rows_of(base, "signins")[:3]
    rows[0]["at"] = "2025-01-15T10:00:00"
    rows[1]["at"] = "2025-01-15T12:00:00+02:00"
    rows[2]["at"] = "2025-01-15 10:00:00.250Z"
    src = copy_export(base, tmp_path / "src", "jsonl", {"signins": rows})
    t = read_export(src).tables["signins"]["at"].to_pylist()
    assert [x.isoformat() for x in t] == ["2025-01-15T10:00:00+00:00", "2025-01-15T10:00:00+00:00",
                                          "2025-01-15T10:00:00.250000+00:00"]


def test_bad_parquet_file_is_a_clear_error(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "parquet")
    (src / "signins.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ExportError, match="signins.parquet"):
        stage_export(src, tmp_path / "staged", progress=False)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt_pages(path: Path) -> None:
    """Flip bytes inside the column chunks, keeping the footer (the file opens, reading fails)."""
    data = bytearray(path.read_bytes())
    for i in range(8, len(data) // 2, 5):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _corrupt_pages], ids=["truncated", "corrupt pages"])
@pytest.mark.parametrize("table", ["items", "members"])
def test_damaged_parquet_is_one_line_naming_the_file(tmp_path, base, damage, table) -> None:
    """Before: a corrupt page raised a bare OSError (ZSTD decompression failed) from deep in staging."""
    src = copy_export(base, tmp_path / "src", "parquet")
    pq.write_table(pq.read_table(src / f"{table}.parquet"), src / f"{table}.parquet", compression="zstd")
    damage(src / f"{table}.parquet")
    with pytest.raises(ExportError) as err:
        stage_export(src, tmp_path / "staged", progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{src / table}.parquet: not a readable Parquet file (") and "\n" not in msg
    assert not (tmp_path / "staged").exists()


def test_a_column_given_twice_in_parquet_is_one_line(tmp_path, base) -> None:
    src = copy_export(base, tmp_path / "src", "parquet")
    t = pq.read_table(src / "members.parquet")
    t = t.append_column("residence_country", pa.array(["US"] * t.num_rows))
    pq.write_table(t, src / "members.parquet")
    with pytest.raises(ExportError, match=r"members.parquet: column residence_country appears 2 times"):
        stage_export(src, tmp_path / "staged", progress=False)


def test_empty_directory_is_one_line(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError) as err:
        stage_export(tmp_path / "empty", tmp_path / "staged", progress=False)
    assert "required table(s) members, items missing" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ExportError, match="not a directory"):
        stage_export(tmp_path / "nope", tmp_path / "staged", progress=False)


def test_duplicates_in_a_typed_parquet_file(tmp_path, base) -> None:
    """A file that already has the declared types is checked without rewriting; duplicates still go."""
    src = copy_export(base, tmp_path / "src", "parquet")
    for name in schema.EXPORT_TABLES:
        shutil.copy(base / f"{name}.parquet", src / f"{name}.parquet")
    items = pq.read_table(base / "items.parquet")
    with_dup = pa.concat_tables([items.slice(0, 4), items.slice(2, 1), items.slice(4)])
    pq.write_table(with_dup, src / "items.parquet")
    staged = stage_export(src, tmp_path / "staged", progress=False)
    q = _quarantine(staged)
    assert [(r["file"], r["row"], r["field"]) for r in q] == [("items.parquet", 4, "item_id")]
    assert pq.read_table(staged.tables["items"]).equals(items)
    _assert_nothing_lost(src, staged)


def test_ipv6_and_ipv4_signins_are_valid_garbage_is_not(tmp_path, base) -> None:
    rows = rows_of(base, "signins")[:6]
    for r, ip in zip(rows, ["2001:db8::1", "::ffff:192.0.2.1", "10.0.0.1", "2001:db8::g", "1.2.3", "fe80::1%eth0"]):
        r["ip"] = ip
    src = copy_export(base, tmp_path / "src", "jsonl", {"signins": rows})
    export = read_export(src)
    assert export.tables["signins"]["ip"].to_pylist() == ["2001:db8::1", "::ffff:192.0.2.1", "10.0.0.1"]
    assert sorted(export.quarantine["row"].to_pylist()) == [3, 4, 5]


def test_stage_cached_reuses_a_staging_of_the_same_inputs(tmp_path, base) -> None:
    first = stage_cached(base, tmp_path / "staged", progress=False)
    stamp = (first.dest / "staged.json").stat().st_mtime_ns
    again = stage_cached(base, tmp_path / "staged", progress=False)
    assert again.dest == first.dest and (again.dest / "staged.json").stat().st_mtime_ns == stamp
    assert again.counts == first.counts and first.dest.name == first.fingerprint
