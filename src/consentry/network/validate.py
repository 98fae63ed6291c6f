"""Column-wise validation of one batch of an export table against its declared schema.

Why column-wise: an export has tens of millions of rows, and every row must either
pass every check or land in quarantine with the field and the reason. Checks are
Arrow compute kernels over whole columns (a regular expression, a set lookup, a
cast); Python only touches the rows that failed, to write their error messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentry import vocab
from consentry.network import schema

TS = schema.TS

ISO_TS = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
HAS_ZONE = r"(Z|[+-]\d{2}:?\d{2})$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
COUNTRY = r"^[A-Z]{2}$"
_V4 = r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = r"[0-9a-fA-F]{1,4}"
_V6 = "|".join([
    rf"({_H}:){{7}}{_H}", rf"({_H}:){{1,7}}:", rf"({_H}:){{1,6}}:{_H}", rf"({_H}:){{1,5}}(:{_H}){{1,2}}",
    rf"({_H}:){{1,4}}(:{_H}){{1,3}}", rf"({_H}:){{1,3}}(:{_H}){{1,4}}", rf"({_H}:){{1,2}}(:{_H}){{1,5}}",
    rf"{_H}:(:{_H}){{1,6}}", rf":((:{_H}){{1,7}}|:)", rf"::([fF]{{4}}(:0{{1,4}})?:)?{_V4}",
    rf"({_H}:){{1,4}}:{_V4}",
])
IPV4 = rf"^{_V4}$"
IP = rf"^({_V4}|{_V6})$"

INVALID_UTF8 = "invalid UTF-8: the value is not UTF-8 text"

TS_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2100, 1, 1)

ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("items", "kind"): vocab.CONTENT_KINDS,
    ("items", "visibility"): tuple(v.value for v in vocab.Visibility),
    ("consent_events", "purpose"): vocab.PURPOSES,
    ("consent_events", "choice"): tuple(c.value for c in vocab.Choice),
    ("consent_events", "source"): tuple(s.value for s in vocab.Source),
    ("requests", "kind"): tuple(k.value for k in vocab.RequestKind),
    ("job_interactions", "action"): ("view", "save", "apply"),
}
COUNTRY_FIELDS = {("members", "residence_country"), ("jobs", "country")}
IP_FIELDS = {("signins", "ip")}

PRIMARY_KEYS: dict[str, str] = {
    "members": "member_id", "items": "item_id", "consent_events": "event_id",
    "requests": "request_id", "jobs": "job_id",
}
TIME_COLUMNS: dict[str, str] = {
    "members": "joined_at", "items": "created_at", "signins": "at", "consent_events": "at",
    "requests": "at", "notices": "delivered_at", "jobs": "posted_at", "job_interactions": "at",
}


def json_schema(target: pa.Schema) -> pa.Schema:
    """The schema to parse JSON lines with: dates and timestamps stay strings, parsed later."""
    fields = []
    for f in target:
        t = pa.string() if (pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)) else f.type
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


@dataclass
class Problem:
    """Rows of one field that failed, with a message per failed row."""

    field: str
    mask: np.ndarray
    message: object  # callable(i) -> str


def _is_stringlike(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or (
        pa.types.is_dictionary(t) and _is_stringlike(t.value_type))


def _mask(arr: pa.Array) -> np.ndarray:
    """Boolean Arrow array (nulls as False) to numpy."""
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(False))
    return arr.to_numpy(zero_copy_only=False)


def _py_ts(s: str) -> datetime | None:
    """Python's ISO 8601 parser, for the rare batch where Arrow's refuses some value."""
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


def _cast_strings(col: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Parse ISO 8601 strings; (parsed array, rows that did not parse)."""
    col = col.cast(pa.string())
    try:  # the clean path: every value a well-formed ISO 8601 string (with its zone)
        return pc.cast(col, target), np.zeros(len(col), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    present = _mask(pc.is_valid(col))
    pattern = ISO_TS if pa.types.is_timestamp(target) else ISO_DATE
    well_formed = _mask(pc.match_substring_regex(col, pattern))
    bad = present & ~well_formed
    keep = pc.if_else(pa.array(well_formed), col, pa.scalar(None, pa.string()))
    try:
        if pa.types.is_timestamp(target):
            zoned = _mask(pc.match_substring_regex(keep, HAS_ZONE))
            with_zone = pc.if_else(pa.array(zoned), keep, pa.scalar(None, pa.string()))
            naive = pc.if_else(pa.array(zoned), pa.scalar(None, pa.string()), keep)
            a = pc.cast(with_zone, target)
            b = pc.cast(pc.cast(naive, pa.timestamp("us")), target)
            return pc.if_else(pa.array(zoned), a, b), bad
        return pc.cast(keep, target), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # some well-formed string is not a real date (2024-02-30): parse this batch row by row
    values: list = []
    for i, s in enumerate(keep.to_pylist()):
        if s is None:
            values.append(None)
            continue
        if pa.types.is_timestamp(target):
            v = _py_ts(s)
        else:
            try:
                v = date.fromisoformat(s)
            except ValueError:
                v = None
        if v is None:
            bad[i] = True
        values.append(v)
    return pa.array(values, target), bad


def _utf8_ok(value: bytes | None) -> bool:
    if value is None:
        return True
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def invalid_utf8(col: pa.Array) -> np.ndarray | None:
    """Rows of a string (or list of strings) column that are not valid UTF-8; None when all are.

    Neither the JSON reader nor the Parquet reader checks UTF-8, and a bad sequence
    fails whatever reads the value next (a string kernel, the redactor), far from the
    row. Arrow's full validation is the fast check; rows are found only when it fails.
    """
    try:
        col.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    if pa.types.is_dictionary(col.type):
        col = col.dictionary.take(col.indices)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        flat = pc.list_flatten(col).cast(pa.binary())
        parent = pc.list_parent_indices(col).to_numpy()
        bad = np.zeros(len(col), dtype=bool)
        for j, v in enumerate(flat.to_pylist()):
            if not _utf8_ok(v):
                bad[parent[j]] = True
        return bad
    return np.array([not _utf8_ok(v) for v in col.cast(pa.binary()).to_pylist()], dtype=bool)


def readable_as(t: pa.DataType, target: pa.DataType) -> bool:
    """Whether a column of type `t` can hold values of the declared `target` type (as
    `conform` reads them); a column of another type is unusable as a whole."""
    if pa.types.is_null(t):
        return True
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(target):
        return _is_stringlike(t)
    if pa.types.is_timestamp(target) or pa.types.is_date(target):
        return _is_stringlike(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)
    if pa.types.is_boolean(target):
        return pa.types.is_boolean(t)
    if pa.types.is_list(target):
        return (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
            _is_stringlike(t.value_type) or pa.types.is_null(t.value_type))
    if pa.types.is_integer(target):
        return pa.types.is_integer(t)
    return False


def _drop_rows(col: pa.Array, bad: np.ndarray) -> pa.Array:
    """`col` with the `bad` rows set to null and their bytes gone (string kernels check
    the whole data buffer, so a null over bad bytes, as `if_else` leaves, still fails)."""
    return col.take(pa.array(np.arange(len(col)), mask=bad))


def conform(table: str, name: str, target: pa.DataType, col: pa.Array | None, n: int
            ) -> tuple[pa.Array, list[Problem]]:
    """Cast one column to its declared type; the rows that cannot be cast are problems."""
    if col is None or pa.types.is_null(col.type):
        return pa.nulls(n, target), []
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    problems: list[Problem] = []
    if _is_stringlike(t) or ((pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_stringlike(t.value_type)):
        bad_utf8 = invalid_utf8(col)
        if bad_utf8 is not None:
            if pa.types.is_dictionary(t):
                col = col.dictionary.take(col.indices)
            out, probs = conform(table, name, target, _drop_rows(col, bad_utf8), n)
            return out, [Problem(name, bad_utf8, lambda i: INVALID_UTF8), *probs]
    if pa.types.is_string(target):
        if not _is_stringlike(t):
            bad = _mask(pc.is_valid(col))
            return pa.nulls(n, target), [Problem(name, bad, lambda i: f"wrong type: expected string, got {t}")]
        return col.cast(target), []
    if pa.types.is_timestamp(target) or pa.types.is_date(target):
        if _is_stringlike(t):
            out, bad = _cast_strings(col, target)
            if bad.any():
                raw = col.cast(pa.string())
                kind = "timestamp" if pa.types.is_timestamp(target) else "date"
                problems.append(Problem(name, bad, lambda i: f"bad {kind} {raw[i].as_py()!r}: expected ISO 8601"))
            out_ = out
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            if pa.types.is_timestamp(t) and t.tz is None and pa.types.is_timestamp(target):
                col = pc.cast(col, pa.timestamp("us"), safe=False)
            out_ = pc.cast(col, target, safe=False)
        else:
            bad = _mask(pc.is_valid(col))
            return pa.nulls(n, target), [Problem(name, bad, lambda i: f"wrong type: expected {target}, got {t}")]
        lo, hi = (TS_MIN, TS_MAX) if pa.types.is_timestamp(target) else (DATE_MIN, DATE_MAX)
        out_range = _mask(pc.or_(pc.less(out_, pa.scalar(lo, target)), pc.greater_equal(out_, pa.scalar(hi, target))))
        if out_range.any():
            problems.append(Problem(name, out_range, lambda i: f"date out of range: {out_[i].as_py()}"))
        return out_, problems
    if pa.types.is_boolean(target):
        if not pa.types.is_boolean(t):
            bad = _mask(pc.is_valid(col))
            return pa.nulls(n, target), [Problem(name, bad, lambda i: f"wrong type: expected bool, got {t}")]
        return col, []
    if pa.types.is_list(target):
        if not (pa.types.is_list(t) or pa.types.is_large_list(t)) or not (
                _is_stringlike(t.value_type) or pa.types.is_null(t.value_type)):
            bad = _mask(pc.is_valid(col))
            return pa.nulls(n, target), [Problem(name, bad, lambda i: f"wrong type: expected list of strings, got {t}")]
        out = col.cast(target)
        flat = pc.list_flatten(out)
        if len(flat):
            parent = pc.list_parent_indices(out).to_numpy()
            elem_bad = _mask(pc.or_kleene(pc.is_null(flat), pc.equal(flat, "")))
            if elem_bad.any():
                bad = np.zeros(n, dtype=bool)
                bad[parent[elem_bad]] = True
                problems.append(Problem(name, bad, lambda i: "list contains a null or empty id"))
        return out, problems
    if pa.types.is_integer(target):
        if not pa.types.is_integer(t):
            bad = _mask(pc.is_valid(col))
            return pa.nulls(n, target), [Problem(name, bad, lambda i: f"wrong type: expected integer, got {t}")]
        return col.cast(target), []
    raise TypeError(f"no conversion to {target} for {table}.{name}")  # pragma: no cover


def _per_value(col: pa.Array, fn) -> np.ndarray:
    """fn (a boolean kernel) per row; on a dictionary column, once per distinct value."""
    if pa.types.is_dictionary(col.type):
        on_dict = _mask(fn(col.dictionary))
        idx = col.indices
        out = on_dict[pc.fill_null(idx, 0).to_numpy(zero_copy_only=False)]
        if idx.null_count:
            out &= _mask(pc.is_valid(idx))
        return out
    return _mask(fn(col))


def _blank(v: pa.Array) -> pa.Array:
    return pc.or_(pc.equal(v, ""), pc.utf8_is_space(v))


def check(table: str, field: pa.Field, col: pa.Array, source: pa.Array | None = None) -> list[Problem]:
    """Content rules on a conformed column: required, enums, countries, IPs.

    `source` may be the dictionary-encoded column as read from Parquet: set lookups then
    run once per distinct value instead of once per row.
    """
    name = field.name
    src = source if source is not None and pa.types.is_dictionary(source.type) else col
    problems: list[Problem] = []
    nulls = _mask(pc.is_null(col))
    if not field.nullable:
        missing = nulls
        if pa.types.is_string(field.type):
            missing = missing | _per_value(src, _blank)
        if missing.any():
            problems.append(Problem(name, missing, lambda i: "missing required value"))
    if (table, name) in ENUMS:
        allowed = pa.array(ENUMS[(table, name)])
        unknown = ~nulls & ~_per_value(src, lambda v: pc.is_in(v, allowed))
        if unknown.any():
            problems.append(Problem(name, unknown, lambda i: f"unknown {name} {col[i].as_py()!r}"))
    if (table, name) in COUNTRY_FIELDS:
        bad = ~nulls & ~_per_value(src, lambda v: pc.match_substring_regex(v, COUNTRY))
        if bad.any():
            problems.append(Problem(name, bad, lambda i: f"country {col[i].as_py()!r} is not ISO 3166-1 alpha-2"))
    if (table, name) in IP_FIELDS:
        bad = ~nulls & ~_per_value(src, lambda v: pc.match_substring_regex(v, IP))
        if bad.any():
            problems.append(Problem(name, bad, lambda i: f"not an IP address: {col[i].as_py()!r}"))
    return problems


def unchecked_columns(table: str) -> set[str]:
    """Nullable free-text columns: any string is valid, so a typed file needs no look at them."""
    special = {f for (t, f) in ENUMS if t == table} | {f for (t, f) in COUNTRY_FIELDS | IP_FIELDS if t == table}
    return {f.name for f in schema.TABLES[table]
            if f.nullable and pa.types.is_string(f.type) and f.name not in special}


def validate(table: str, raw: pa.Table, subset: bool = False
             ) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, str]]]:
    """(clean rows cast to the schema, mask of bad rows, [(row index, field, error)] for bad rows).

    With `subset`, only the columns present in `raw` are checked and returned (used to
    check a typed Parquet file without decoding its free text).
    """
    target = schema.TABLES[table]
    if subset:
        target = pa.schema([f for f in target if f.name in raw.column_names])
    n = raw.num_rows
    cols, problems = [], []
    names = set(raw.column_names)
    for f in target:
        col = raw.column(f.name) if f.name in names else None
        if isinstance(col, pa.ChunkedArray):
            col = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
        arr, probs = conform(table, f.name, f.type, col, n)
        problems.extend(probs)
        # content checks only on rows whose value could be read
        problems.extend(check(table, f, arr, col) if not probs else _check_readable(table, f, arr, probs))
        cols.append(arr)
    out = pa.Table.from_arrays(cols, schema=target)
    bad = np.zeros(n, dtype=bool)
    for p in problems:
        bad |= p.mask
    errors: list[tuple[int, str, str]] = []
    if bad.any():
        per_row: dict[int, list[tuple[str, str]]] = {}
        order = {f.name: k for k, f in enumerate(target)}
        for p in sorted(problems, key=lambda p: order[p.field]):
            for i in np.flatnonzero(p.mask):
                per_row.setdefault(int(i), []).append((p.field, p.message(int(i))))
        for i in sorted(per_row):
            issues = per_row[i]
            field, msg = issues[0]
            if len(issues) > 1:
                msg += " (also: " + "; ".join(f"{f}: {m}" for f, m in issues[1:]) + ")"
            errors.append((i, field, msg))
        out = out.filter(pa.array(~bad))
    return out, bad, errors


def _check_readable(table: str, f: pa.Field, arr: pa.Array, probs: list[Problem]) -> list[Problem]:
    unreadable = np.zeros(len(arr), dtype=bool)
    for p in probs:
        unreadable |= p.mask
    out = []
    for p in check(table, f, arr):
        m = p.mask & ~unreadable
        if m.any():
            out.append(Problem(p.field, m, p.message))
    return out


def row_json(table: pa.Table, i: int) -> str:
    """One row as JSON text, for the quarantine's `raw` column (bad UTF-8 shown as U+FFFD)."""
    row = table.slice(i, 1)
    try:
        values = row.to_pylist()[0]
    except UnicodeDecodeError:
        values = {}
        for name, col in zip(row.column_names, row.columns, strict=True):
            try:
                values[name] = col.to_pylist()[0]
            except UnicodeDecodeError:
                t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
                as_bytes = col.cast(pa.list_(pa.binary()) if pa.types.is_list(t) else pa.binary()).to_pylist()[0]
                values[name] = ([None if b is None else b.decode("utf-8", errors="replace") for b in as_bytes]
                                if isinstance(as_bytes, list) else as_bytes.decode("utf-8", errors="replace"))
    return json.dumps(values, default=str, ensure_ascii=False)
