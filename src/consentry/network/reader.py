"""Read a platform export, validate it against the declared schema, stage it as clean Parquet.

An export is a directory with one table per `NAME.parquet`, `NAME.jsonl` or
`NAME/` (a folder of Parquet or JSONL parts). Every input row ends in exactly one
place: the staged table (clean, cast to the schema) or `quarantine.jsonl` (with
table, file, 0-based row within the file, field, error and the raw row). Nothing is
dropped silently. Staging streams record batches, so memory stays bounded, and
writes into a sibling directory that is renamed into place only when complete.

Duplicate primary ids are found after staging with DuckDB (a hash aggregate over
the staged Parquet, cheap when there are none): identical copies collapse to the
first; rows that share an id but differ are all quarantined.

Missing is unknown: staging also writes what the export lacked (`missing_inputs`:
absent tables, absent or unreadable columns) and the members a quarantined row
leaves in doubt (`member_issues`); `policy.requirements` and the plan act on them.
Bytes that are not UTF-8 are a row-level error like any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from consentry.network import schema
from consentry.network.validate import (
    COUNTRY_FIELDS,
    ENUMS,
    INVALID_UTF8,
    PRIMARY_KEYS,
    TIME_COLUMNS,
    invalid_utf8,
    json_schema,
    readable_as,
    row_json,
    unchecked_columns,
    validate,
)

STAGING_FORMAT = 2
"""Written to staged.json; bumped when a staged directory gains or changes files (2:
missing_inputs, member_issues), so `stage_cached` never reuses a staging that lacks them."""
BATCH_ROWS = 131_072
JSON_BLOCK_BYTES = 8 << 20
DUCKDB_MEMORY = os.environ.get("CONSENTRY_STAGE_MEMORY", "1GB")


class ExportError(ValueError):
    """The export cannot be read at all (missing required table, unreadable file)."""


@dataclass
class Export:
    """A small export held in memory: every table present (empty when absent) plus quarantine."""

    tables: dict[str, pa.Table]
    quarantine: pa.Table
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class StagedExport:
    dest: Path
    tables: dict[str, Path]
    counts: dict[str, int]  # clean rows per table
    quarantined: dict[str, int]  # quarantined rows per table
    input_rows: dict[str, int]
    watermarks: dict[str, dict]
    quarantine_path: Path

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.watermarks)

    def missing_inputs(self) -> list[dict]:
        """What the export did not give (`schema.MISSING_INPUTS` rows)."""
        return pq.read_table(self.tables["missing_inputs"]).to_pylist()

    def member_issues(self) -> list[dict]:
        """Members a quarantined row leaves in doubt (`schema.MEMBER_ISSUES` rows)."""
        return pq.read_table(self.tables["member_issues"]).to_pylist()


def fingerprint_of(watermarks: dict[str, dict]) -> str:
    """A content hash of the inputs (file names and sha256), stable across machines."""
    h = hashlib.sha256()
    for t in sorted(watermarks):
        for f in watermarks[t]["files"]:
            h.update(f"{t}\0{f['path']}\0{f['sha256']}\n".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- discovery


def table_files(src: Path, name: str) -> list[Path]:
    """The files holding table `name`: NAME.parquet, NAME.jsonl, or parts in NAME/."""
    files = [src / f"{name}.parquet", src / f"{name}.jsonl"]
    found = [f for f in files if f.is_file()]
    folder = src / name
    if folder.is_dir():
        found += sorted(p for p in folder.iterdir()
                        if p.is_file() and p.suffix in (".parquet", ".jsonl") and not p.name.startswith("."))
    return found


def item_text(src: str | Path, item_id: str) -> str | None:
    """The text of item `item_id` of the export at `src` (None when it has none).

    KeyError naming the export when no items file holds that id (the first row wins,
    as in staging).
    """
    src = Path(src)
    files = table_files(src, "items")
    if not files:
        raise KeyError(f"{src}: no items table (items.parquet, items.jsonl or items/)")
    for path in files:
        if path.suffix == ".parquet":
            t = pq.read_table(path, columns=["item_id", "text"], filters=[("item_id", "=", item_id)])
            if t.num_rows:
                return t.column("text")[0].as_py()
            continue
        with path.open("rb") as f:
            for raw in f:
                if item_id.encode() not in raw:  # cheap skip before parsing
                    continue
                with contextlib.suppress(ValueError):
                    row = json.loads(raw)
                    if isinstance(row, dict) and str(row.get("item_id")) == item_id:
                        text = row.get("text")
                        return text if isinstance(text, str) else None
    raise KeyError(f"{src}: no item with item_id {item_id!r}")


def discover(src: str | Path) -> dict[str, list[Path]]:
    src = Path(src)
    if not src.is_dir():
        raise ExportError(f"{src}: not a directory")
    found = {name: table_files(src, name) for name in schema.EXPORT_TABLES}
    missing = [t for t in schema.REQUIRED_TABLES if not found[t]]
    if missing:
        raise ExportError(
            f"{src}: required table(s) {', '.join(missing)} missing "
            f"(expected {' or '.join(f'{m}.parquet / {m}.jsonl / {m}/' for m in missing)})")
    return found


def sha256_file(path: Path, copy_to: Path | None = None) -> str:
    """The file's sha256; with `copy_to`, copies it there in the same pass."""
    h = hashlib.sha256()
    with open(path, "rb") as f, (open(copy_to, "wb") if copy_to else contextlib.nullcontext()) as out:
        while chunk := f.read(8 << 20):
            h.update(chunk)
            if out is not None:
                out.write(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- raw batches


@dataclass
class RawBatch:
    table: pa.Table  # source types; JSON rows parsed with json_schema
    rows: np.ndarray  # 0-based row number within the file, per table row
    raw: object  # callable(i) -> str, the original row text for quarantine
    rejected: list[tuple[int, str, str, str]]  # (row, field, error, raw) that failed before typing


def dictionary_columns(table: str, file_schema: pa.Schema) -> list[str]:
    """Columns worth reading dictionary-encoded: few distinct values, checked against a set."""
    wanted = {f for (t, f) in ENUMS if t == table} | {f for (t, f) in COUNTRY_FIELDS if t == table}
    if table != "members":
        wanted.add("member_id")  # repeated per row of the same member
    return [f.name for f in file_schema if f.name in wanted and pa.types.is_string(f.type)]


@contextlib.contextmanager
def readable(path: Path) -> Iterator[None]:
    """Any error reading `path` (a bad footer, a corrupt page, a truncated file, no
    permission) becomes one ExportError naming the file."""
    try:
        yield
    except ExportError:
        raise
    except (OSError, pa.ArrowException) as exc:
        what = "not a readable Parquet file" if path.suffix == ".parquet" else "not readable"
        detail = " ".join(str(exc).split())
        raise ExportError(f"{path}: {what} ({detail})") from exc


def iter_parquet(path: Path, table: str) -> Iterator[RawBatch]:
    with readable(path):
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # which of the columns is true is unknown, for every row
            raise ExportError(f"{path}: column {twice[0]} appears {names.count(twice[0])} times; "
                              "a column name may appear once")
        pf = pq.ParquetFile(path, read_dictionary=dictionary_columns(table, pf.schema_arrow))
        start = 0
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            t = pa.Table.from_batches([batch])
            rows = np.arange(start, start + t.num_rows, dtype=np.int64)
            start += t.num_rows
            yield RawBatch(t, rows, lambda i, t=t: row_json(t, i), [])


def _py_type_ok(value, t: pa.DataType) -> bool:
    if value is None:
        return True
    if pa.types.is_string(t):
        return isinstance(value, str)
    if pa.types.is_boolean(t):
        return isinstance(value, bool)
    if pa.types.is_list(t):
        return isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)
    if pa.types.is_integer(t):
        return isinstance(value, int) and not isinstance(value, bool)
    return False


def _json_type(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _utf8_field(line: bytes) -> str:
    """The field whose value holds the bad UTF-8 of `line` ("*" when it is not in one value)."""
    try:
        obj = json.loads(line.decode("utf-8", errors="surrogateescape"))
    except ValueError:
        return "*"

    def bad(v: object) -> bool:
        if isinstance(v, str):
            return any("\udc80" <= ch <= "\udcff" for ch in v)
        return isinstance(v, list) and any(bad(x) for x in v)

    if isinstance(obj, dict):
        for key, value in obj.items():
            if not bad(key) and bad(value):
                return key
    return "*"


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all distinct (json.loads would keep the last of a
    repeated key silently: `"residence_country": "DE", "residence_country": "US"`)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _RepeatedKey(k)
            seen.add(k)
    return obj


def _parse_lines(lines: list[bytes], first_row: int, jschema: pa.Schema) -> RawBatch:
    """The slow path, for blocks pyarrow refuses: one line at a time, bad lines rejected."""
    good, rows, texts, rejected = [], [], [], []
    for k, line in enumerate(lines):
        row = first_row + k
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            rejected.append((row, _utf8_field(line), INVALID_UTF8, line.decode("utf-8", errors="replace").rstrip("\r")))
            continue
        if not text.strip():
            rejected.append((row, "*", "blank line", text))
            continue
        try:
            obj = json.loads(text, object_pairs_hook=_no_repeated_keys)
        except _RepeatedKey as exc:
            error = f"key {exc.key!r} given twice in one row (which value is true is unknown)"
            rejected.append((row, exc.key, error, text))
            continue
        except ValueError as exc:
            rejected.append((row, "*", f"invalid JSON: {exc}", text))
            continue
        if not isinstance(obj, dict):
            rejected.append((row, "*", f"expected a JSON object, got {_json_type(obj)}", text))
            continue
        wrong = [(f.name, f.type) for f in jschema if not _py_type_ok(obj.get(f.name), f.type)]
        if wrong:
            name, t = wrong[0]
            exp = "list of strings" if pa.types.is_list(t) else str(t)
            rejected.append((row, name, f"wrong type: expected {exp}, got {_json_type(obj.get(name))}", text))
            continue
        good.append({f.name: obj.get(f.name) for f in jschema})
        rows.append(row)
        texts.append(text)
    table = pa.Table.from_pylist(good, schema=jschema)
    return RawBatch(table, np.array(rows, dtype=np.int64), lambda i, texts=texts: texts[i], rejected)


def _parse_block(block: bytes, first_row: int, jschema: pa.Schema) -> Iterator[RawBatch]:
    """Vectorised parse of a block of whole lines; bisect towards the bad lines on failure."""
    n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    if n_lines == 0:
        return
    try:
        t = pajson.read_json(
            pa.BufferReader(block),
            read_options=pajson.ReadOptions(use_threads=True, block_size=max(len(block) + 1, 1 << 20)),
            parse_options=pajson.ParseOptions(explicit_schema=jschema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        t = None
    # pyarrow skips blank lines: a row count that differs from the line count sends the
    # block down the careful path, which reports them
    if t is not None and t.num_rows == n_lines:
        t = t.select([f.name for f in jschema])
        lines_cache: list[bytes] = []

        def raw(i: int) -> str:
            if not lines_cache:
                lines_cache.extend(block.split(b"\n"))
            return lines_cache[i].decode("utf-8", errors="replace")

        yield RawBatch(t, np.arange(first_row, first_row + n_lines, dtype=np.int64), raw, [])
        return
    if n_lines <= 256:
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines = lines[:-1]
        yield _parse_lines(lines, first_row, jschema)
        return
    mid = block.find(b"\n", len(block) // 2)
    if mid < 0 or mid == len(block) - 1:
        mid = block.rfind(b"\n", 0, len(block) - 1)
    left, right = block[: mid + 1], block[mid + 1:]
    yield from _parse_block(left, first_row, jschema)
    yield from _parse_block(right, first_row + left.count(b"\n"), jschema)


def _key_patterns(table: str) -> dict[str, re.Pattern[bytes]]:
    """Per declared column, a pattern that finds it as a key of a JSON object.

    Inside a JSON string every quote is escaped, so an unescaped `"name":` is a key.
    """
    return {f.name: re.compile(rb'(?<!\\)"' + re.escape(f.name.encode()) + rb'"\s*:')
            for f in schema.TABLES[table]}


def iter_jsonl(path: Path, table: str, keys_seen: set[str] | None = None) -> Iterator[RawBatch]:
    """Parse a JSONL file in blocks; `keys_seen` collects the declared columns that occur
    as a key on some line (a column no line has is absent, not null)."""
    jschema = json_schema(schema.TABLES[table])
    patterns = _key_patterns(table)
    row = 0
    rest = b""

    def note_keys(block: bytes) -> None:
        if keys_seen is not None:
            keys_seen.update(k for k, pat in patterns.items() if k not in keys_seen and pat.search(block))

    with readable(path), open(path, "rb") as f:
        while True:
            chunk = f.read(JSON_BLOCK_BYTES)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            block, rest = data[: cut + 1], data[cut + 1:]
            if row == 0 and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]  # a UTF-8 byte order mark is not part of the first row
            note_keys(block)
            yield from _parse_block(block, row, jschema)
            row += block.count(b"\n")
        if rest:
            note_keys(rest)
            yield from _parse_block(rest, row, jschema)


def iter_file(path: Path, table: str, keys_seen: set[str] | None = None) -> Iterator[RawBatch]:
    if path.suffix == ".parquet":
        return iter_parquet(path, table)
    return iter_jsonl(path, table, keys_seen)


def missing_columns(table: str, path: Path, rel: str, keys_seen: set[str] | None, rows: int) -> list[dict]:
    """`missing_inputs` rows for the declared columns `path` lacks or holds in a type that
    cannot be read as the declared one."""
    out = []
    if path.suffix == ".parquet":
        with readable(path):
            got = pq.read_schema(path)
        for f in schema.TABLES[table]:
            i = got.get_field_index(f.name)
            if i < 0:
                out.append({"table": table, "file": rel, "column": f.name, "problem": "absent"})
            elif not readable_as(got.field(i).type, f.type):
                out.append({"table": table, "file": rel, "column": f.name,
                            "problem": f"of type {got.field(i).type}, which cannot be read as {f.type}"})
    elif rows:  # a JSONL file without rows lacks nothing
        out += [{"table": table, "file": rel, "column": f.name, "problem": "absent (no line has this key)"}
                for f in schema.TABLES[table] if f.name not in (keys_seen or ())]
    return out


def file_rows_hint(path: Path) -> int:
    if path.suffix == ".parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001
            return 0
    return 0


# ----------------------------------------------------------------------------- staging


class Quarantine:
    """The quarantine file being written, and the members a quarantined row leaves in doubt.

    A quarantined row of `schema.MEMBER_TABLES` (an opt-out, an erasure request, a
    sign-in, a member row) is information about its member that the plan will not see,
    and not seeing it could only allow more; so the member is listed in `member_issues`
    and the plan excludes every item of theirs as `malformed`. A row whose member_id
    cannot be read cannot be attributed; it stays in quarantine, counted and shown.
    """

    def __init__(self, f: TextIO) -> None:
        self.f = f
        self.issues: dict[tuple[str, str], str] = {}

    def add(self, table: str, file: str, row: int, field: str, error: str, raw: str,
            doubt: bool = True) -> None:
        """Write one quarantine line; `doubt=False` for a row whose content is kept anyway
        (an identical copy of a staged row)."""
        self.f.write(json.dumps({"table": table, "file": file, "row": row, "field": field,
                                 "error": error, "raw": raw}, ensure_ascii=False) + "\n")
        if doubt and table in schema.MEMBER_TABLES:
            member = _member_of(raw)
            if member:
                self.issues.setdefault((member, table), f"{file} row {row}: {field}: {error}")

    def member_issues(self) -> pa.Table:
        rows = [{"member_id": m, "table": t, "error": e} for (m, t), e in sorted(self.issues.items())]
        return pa.Table.from_pylist(rows, schema=schema.MEMBER_ISSUES)


def _member_of(raw: str) -> str | None:
    """The member_id of a quarantined row's raw text, when it holds a readable one."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    mid = obj.get("member_id") if isinstance(obj, dict) else None
    return mid.strip() if isinstance(mid, str) and mid.strip() and "\ufffd" not in mid else None


def _rel(path: Path, src: Path) -> str:
    try:
        return str(path.relative_to(src))
    except ValueError:
        return str(path)


def _same_types(path: Path, target: pa.Schema) -> bool:
    try:
        got = pq.read_schema(path)
    except Exception:  # noqa: BLE001 - the full path reports unreadable files
        return False
    return got.names == target.names and all(a.type == b.type for a, b in zip(got, target))


def _clean_as_is(name: str, path: Path, progress, rel: str) -> tuple[int, object] | None:
    """(rows, max timestamp) when a Parquet file already has the declared types and every row
    passes; free text is only checked to be UTF-8 (Arrow's vectorised validation)."""
    if path.suffix != ".parquet" or not _same_types(path, schema.TABLES[name]):
        return None
    with readable(path):
        return _check_typed(name, path, progress, rel)


def _check_typed(name: str, path: Path, progress, rel: str) -> tuple[int, object] | None:
    pf = pq.ParquetFile(path, read_dictionary=dictionary_columns(name, schema.TABLES[name]))
    cols = [f.name for f in schema.TABLES[name] if f.name not in unchecked_columns(name)]
    rows, max_ts = 0, None
    task = progress.add_task(f"{name}: {rel} (check)", total=pf.metadata.num_rows) if progress else None
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=cols):
        t = pa.Table.from_batches([batch])
        _, bad, _ = validate(name, t, subset=True)
        if bad.any():
            if task is not None:
                progress.remove_task(task)
            return None
        rows += t.num_rows
        m = pc.max(t.column(TIME_COLUMNS[name])).as_py()
        if m is not None and (max_ts is None or m > max_ts):
            max_ts = m
        if task is not None:
            progress.update(task, advance=t.num_rows)
    # Free text has no rule but must be UTF-8 (the Parquet reader does not check it, and
    # whatever reads it next would fail far from the row): a file with a bad value goes
    # the row-by-row way, which quarantines just those rows.
    text = [c for c in unchecked_columns(name) if c in pf.schema_arrow.names]
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=text) if text else ():
        if any(invalid_utf8(col) is not None for col in batch.columns):
            if task is not None:
                progress.remove_task(task)
            return None
    return rows, max_ts


def _stage_table(name: str, files: list[Path], src: Path, tmp: Path, quar: Quarantine, progress,
                 missing: list[dict]) -> dict:
    target = schema.TABLES[name]
    if not files:
        missing.append({"table": name, "file": None, "column": None,
                        "problem": f"absent (no {name}.parquet, {name}.jsonl or {name}/)"})
    if len(files) == 1:
        rel = _rel(files[0], src)
        fast = _clean_as_is(name, files[0], progress, rel)
        if fast is not None:
            rows, max_ts = fast
            digest = sha256_file(files[0], copy_to=tmp / f"{name}.parquet")
            wm = {"files": [{"path": rel, "sha256": digest, "rows": rows}], "rows": rows,
                  "clean": rows, "quarantined": 0,
                  "max_timestamp": max_ts.isoformat() if max_ts is not None else None}
            key = PRIMARY_KEYS.get(name)
            dups = _drop_duplicates(name, key, files, src, tmp, quar) if key and rows else 0
            wm["clean"] -= dups
            wm["quarantined"] += dups
            return wm
    out_path = tmp / f"{name}.parquet"
    writer = pq.ParquetWriter(out_path, target, compression="zstd", compression_level=1,
                              use_dictionary=[f.name for f in target if f.name not in unchecked_columns(name)])
    key = PRIMARY_KEYS.get(name)
    origin = pq.ParquetWriter(tmp / f"_origin_{name}.parquet",
                              pa.schema([("file", pa.int32()), ("row", pa.int64())])) if key else None
    tcol = TIME_COLUMNS[name]
    wm_files, total_in, clean, quarantined, max_ts = [], 0, 0, 0, None
    try:
        for fi, path in enumerate(files):
            rel = _rel(path, src)
            rows_in = 0
            keys_seen: set[str] = set()
            task = progress.add_task(f"{name}: {rel}", total=file_rows_hint(path) or None) if progress else None
            for rb in iter_file(path, name, keys_seen):
                for row, fld, err, raw in rb.rejected:
                    quar.add(name, rel, row, fld, err, raw)
                quarantined += len(rb.rejected)
                rows_in += len(rb.rejected) + rb.table.num_rows
                if rb.table.num_rows:
                    good, bad, errors = validate(name, rb.table)
                    for i, fld, err in errors:
                        quar.add(name, rel, int(rb.rows[i]), fld, err, rb.raw(i))
                    quarantined += len(errors)
                    if good.num_rows:
                        writer.write_table(good)
                        clean += good.num_rows
                        m = pc.max(good.column(tcol)).as_py()
                        if m is not None and (max_ts is None or m > max_ts):
                            max_ts = m
                        if origin is not None:
                            origin.write_table(pa.table({
                                "file": pa.array(np.full(good.num_rows, fi, dtype=np.int32)),
                                "row": pa.array(rb.rows[~bad])}))
                if task is not None:
                    progress.update(task, advance=len(rb.rejected) + rb.table.num_rows)
            if task is not None:
                progress.update(task, total=rows_in, completed=rows_in)
            total_in += rows_in
            missing += missing_columns(name, path, rel, keys_seen, rows_in)
            wm_files.append({"path": rel, "sha256": sha256_file(path), "rows": rows_in})
    finally:
        writer.close()
        if origin is not None:
            origin.close()
    dups = _drop_duplicates(name, key, files, src, tmp, quar) if key and clean else 0
    clean -= dups
    quarantined += dups
    return {"files": wm_files, "rows": total_in, "clean": clean, "quarantined": quarantined,
            "max_timestamp": max_ts.isoformat() if max_ts is not None else None}


def _drop_duplicates(name: str, key: str, files: list[Path], src: Path, tmp: Path, quar: Quarantine) -> int:
    """Quarantine duplicate primary ids; returns how many rows went.

    Rows that repeat an id with identical values collapse to the first (the later copies
    are quarantined as identical). Rows that share an id but differ contradict each
    other, and no rule says which one is true: every one of them is quarantined. (Keeping
    the first would let whoever controls row order choose: a copy of an EEA member with
    residence US placed first would make their data trainable.)
    """
    import duckdb

    staged = tmp / f"{name}.parquet"
    origin = tmp / f"_origin_{name}.parquet"
    if pq.ParquetFile(staged).metadata.num_rows <= 2_000_000:
        # small enough to check in memory without starting DuckDB
        ids = pq.read_table(staged, columns=[key]).column(key)
        if pc.count_distinct(ids).as_py() == len(ids):
            return 0
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        # bounded memory: DuckDB spills the id aggregation to disk beyond this
        con.execute(f"SET memory_limit='{DUCKDB_MEMORY}'")
        con.execute(f"SET temp_directory={_sql_path(tmp / '_duckdb_tmp')}")
        q = _sql_path(staged)
        dup = con.execute(f'SELECT count(*) FROM (SELECT "{key}" FROM read_parquet({q}) '
                          f'GROUP BY 1 HAVING count(*) > 1)').fetchall()[0][0]
        if not dup:
            return 0
        if not origin.exists():  # a file staged as is: staged position = source row of file 0
            n = pq.ParquetFile(staged).metadata.num_rows
            pq.write_table(pa.table({"file": pa.array(np.zeros(n, dtype=np.int32)),
                                     "row": pa.array(np.arange(n, dtype=np.int64))}), origin)
        cols = ", ".join(f'"{f.name}"' for f in schema.TABLES[name])
        rows = con.sql(f"""
            WITH s AS (SELECT *, file_row_number AS _pos FROM read_parquet({q}, file_row_number=true)),
                 o AS (SELECT file, row, file_row_number AS _pos FROM read_parquet({_sql_path(origin)}, file_row_number=true)),
                 dk AS (SELECT "{key}" AS _id FROM s GROUP BY 1 HAVING count(*) > 1),
                 v AS (SELECT "{key}" AS _id, count(*) AS _n, count(DISTINCT row({cols})) AS _variants
                       FROM s SEMI JOIN dk ON s."{key}" = dk._id GROUP BY 1),
                 d AS (SELECT s.*, o.file AS _file, o.row AS _row, v._n, v._variants,
                              row_number() OVER (PARTITION BY s."{key}" ORDER BY s._pos) AS _k
                       FROM s JOIN o USING (_pos) JOIN v ON v._id = s."{key}")
            SELECT * FROM d WHERE _k > 1 OR _variants > 1 ORDER BY _pos""").to_arrow_table()
        positions = rows.column("_pos").to_pylist()
        data = rows.drop_columns(["_pos", "_file", "_row", "_n", "_variants", "_k"])
        for i in range(rows.num_rows):
            ident = rows.column(key)[i].as_py()
            n, variants = rows.column("_n")[i].as_py(), rows.column("_variants")[i].as_py()
            error = (f"contradictory duplicate {key} {ident!r}: {n} rows have it and they differ; "
                     "all are quarantined" if variants > 1 else
                     f"duplicate {key} {ident!r}: identical to an earlier row, which is kept")
            quar.add(name, _rel(files[rows.column("_file")[i].as_py()], src), rows.column("_row")[i].as_py(),
                     key, error, row_json(data, i), doubt=variants > 1)
        con.execute("CREATE TEMP TABLE drop_pos(p BIGINT)")
        con.executemany("INSERT INTO drop_pos VALUES (?)", [[p] for p in positions])
        rewritten = tmp / f"{name}.dedup.parquet"
        con.execute(f"""COPY (SELECT {cols} FROM read_parquet({q}, file_row_number=true)
                        WHERE file_row_number NOT IN (SELECT p FROM drop_pos) ORDER BY file_row_number)
                        TO {_sql_path(rewritten)} (FORMAT PARQUET, COMPRESSION ZSTD)""")
    finally:
        con.close()
    # keep the declared schema exactly (DuckDB drops nullability flags)
    table = pq.read_table(rewritten).cast(schema.TABLES[name])
    pq.write_table(table, staged, compression="zstd", compression_level=1)
    rewritten.unlink()
    return len(positions)


def _sql_path(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def stage_export(src: str | Path, dest: str | Path, progress: bool = True) -> StagedExport:
    """Validate every table of `src` and write clean Parquet + quarantine.jsonl to `dest`.

    `dest` appears only when complete (written aside, then renamed); an existing `dest`
    is replaced.
    """
    src, dest = Path(src), Path(dest)
    found = discover(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    prog = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("rows"), TimeElapsedColumn())
        prog.start()
    watermarks: dict[str, dict] = {}
    missing: list[dict] = []
    try:
        with open(tmp / "quarantine.jsonl", "w", encoding="utf-8") as qout:
            quar = Quarantine(qout)
            for name in schema.EXPORT_TABLES:
                watermarks[name] = _stage_table(name, found[name], src, tmp, quar, prog, missing)
        pq.write_table(quar.member_issues(), tmp / "member_issues.parquet")
        pq.write_table(pa.Table.from_pylist(missing, schema=schema.MISSING_INPUTS), tmp / "missing_inputs.parquet")
        for f in tmp.glob("_origin_*.parquet"):
            f.unlink()
        shutil.rmtree(tmp / "_duckdb_tmp", ignore_errors=True)
        meta = {"source": str(src.resolve()), "fingerprint": fingerprint_of(watermarks),
                "format": STAGING_FORMAT, "tables": watermarks}
        (tmp / "staged.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if prog:
            prog.stop()
    return _staged_from_meta(dest, watermarks)


def _staged_from_meta(dest: Path, watermarks: dict[str, dict]) -> StagedExport:
    return StagedExport(
        dest=dest,
        tables={t: dest / f"{t}.parquet" for t in schema.TABLES},
        counts={t: w["clean"] for t, w in watermarks.items()},
        quarantined={t: w["quarantined"] for t, w in watermarks.items()},
        input_rows={t: w["rows"] for t, w in watermarks.items()},
        watermarks=watermarks,
        quarantine_path=dest / "quarantine.jsonl",
    )


def load_staged(dest: str | Path) -> StagedExport:
    """Re-open a staged directory written by `stage_export`."""
    dest = Path(dest)
    meta_path = dest / "staged.json"
    if not meta_path.is_file():
        raise ExportError(f"{dest}: not a staged export (no staged.json)")
    meta = json.loads(meta_path.read_text())
    return _staged_from_meta(dest, meta["tables"])


def stage_cached(src: str | Path, staged_root: str | Path, progress: bool = True) -> StagedExport:
    """Stage into `staged_root/<fingerprint>/`, reusing an existing staging of the same inputs."""
    src = Path(src)
    found = discover(src)
    h = hashlib.sha256()
    for t in sorted(found):
        for p in found[t]:
            h.update(f"{t}\0{_rel(p, src)}\0{sha256_file(p)}\n".encode())
    dest = Path(staged_root) / h.hexdigest()[:16]
    meta = dest / "staged.json"
    if meta.is_file() and json.loads(meta.read_text()).get("format") == STAGING_FORMAT:
        return load_staged(dest)
    return stage_export(src, dest, progress=progress)


def read_quarantine(path: str | Path) -> pa.Table:
    path = Path(path)
    rows = []
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return pa.Table.from_pylist(rows, schema=schema.QUARANTINE)


def read_export(path: str | Path) -> Export:
    """Read a small export into memory (validated exactly as `stage_export` does)."""
    with tempfile.TemporaryDirectory(prefix="consentry-read-") as d:
        staged = stage_export(path, Path(d) / "staged", progress=False)
        tables = {t: pq.read_table(p).cast(schema.TABLES[t]) for t, p in staged.tables.items()}
        quarantine = read_quarantine(staged.quarantine_path)
    return Export(tables=tables, quarantine=quarantine, counts=dict(staged.counts))
