"""The per-batch kernel that both engines run: redact, hash, assign a shard.

DuckDB calls it through a process pool, Spark through `mapInArrow`; because the
shard, the content hash and the redacted text are all computed here, in the same
Python code, the two engines cannot disagree on them. The data-file writer and the
hash over a shard live here too, for the same reason.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.network.schema import TS

DEFAULT_SHARDS = 16
DROPPED_REASON = "pii_density"
EMPTY_REASON = "malformed"

_ROW_FIELDS = [
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("member_id", pa.string(), nullable=False),
    pa.field("kind", pa.string()),
    pa.field("created_at", TS),
    pa.field("text", pa.string()),
    pa.field("content_hash", pa.string()),
]
SHARD_FIELD = pa.field("shard", pa.int32(), nullable=False)

DATA_SCHEMA = pa.schema([*_ROW_FIELDS, SHARD_FIELD])
"""Columns of `data/shard=NN/*.parquet` (the training set).

`shard` is stored in the file as int32 (and equals the directory's `shard=NN`), so
pyarrow.dataset, Polars and `datasets` all read it as int32 from the file; DuckDB
needs `hive_partitioning=false`, or it reads the directory name as VARCHAR '00'.
"""

META_PREFIX = "consentry."
"""Key-value metadata keys of a data file (snapshot, pack, as_of, shard, shard_content_hash)."""

WORK_SCHEMA = pa.schema(
    [*_ROW_FIELDS, pa.field("drop_reason", pa.string()), pa.field("shard", pa.int32())]
)
"""What an engine writes before finalising: data rows plus the redaction verdict."""

WORK_SPARK_DDL = (
    "item_id string, member_id string, kind string, created_at timestamp, text string, "
    "content_hash string, drop_reason string, shard int"
)

LINEAGE_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("member_id", pa.string(), nullable=False),
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
    ]
)

EXCLUDED_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("member_id", pa.string()),
        pa.field("reasons", pa.list_(pa.string())),
    ]
)

WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True}
ROW_GROUP = 65_536


def shard_of(member_id: str, shards: int) -> int:
    """Stable shard of a member: sha256, so it is the same in every process and engine."""
    digest = hashlib.sha256(member_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def process_batch(redactor: Any, shards: int, batch: pa.RecordBatch) -> pa.RecordBatch:
    """Redact one batch of allowed items and attach shard, content hash and drop reason.

    Input columns: item_id, member_id, kind, created_at, text. Rows the redactor drops
    (too much personal data to keep) or that have no text keep their ids and lose
    their text, so they can be logged as excluded with a reason.
    """
    if batch.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=WORK_SCHEMA)
    red = redactor.redact_batch(batch) if redactor is not None else batch
    names = red.schema.names
    texts = red.column(names.index("text")).to_pylist()
    dropped = (
        red.column(names.index("dropped")).to_pylist() if "dropped" in names else [False] * len(texts)
    )
    member_ids = red.column(names.index("member_id")).to_pylist()
    out_text: list[str | None] = []
    hashes: list[str | None] = []
    reasons: list[str | None] = []
    for text, drop in zip(texts, dropped, strict=True):
        if drop:
            out_text.append(None), hashes.append(None), reasons.append(DROPPED_REASON)
        elif text is None or not text.strip():
            out_text.append(None), hashes.append(None), reasons.append(EMPTY_REASON)
        else:
            out_text.append(text), hashes.append(text_hash(text)), reasons.append(None)
    cache: dict[str, int] = {}
    shard_col = []
    for m in member_ids:
        s = cache.get(m)
        if s is None:
            s = cache[m] = shard_of(m, shards)
        shard_col.append(s)
    created = red.column(names.index("created_at"))
    if created.type != TS:
        created = pc.cast(created, TS)
    return pa.RecordBatch.from_arrays(
        [
            pc.cast(red.column(names.index("item_id")), pa.string()),
            pc.cast(red.column(names.index("member_id")), pa.string()),
            pc.cast(red.column(names.index("kind")), pa.string()),
            created,
            pa.array(out_text, pa.string()),
            pa.array(hashes, pa.string()),
            pa.array(reasons, pa.string()),
            pa.array(shard_col, pa.int32()),
        ],
        schema=WORK_SCHEMA,
    )


def write_data_file(table: pa.Table, path: Path, meta: dict[str, str] | None = None) -> str:
    """The one writer of shard files: same schema and options ⇒ same bytes on both engines.

    The file's key-value metadata holds `meta` (snapshot, pack@version, as_of, shard;
    without `meta`, the `consentry.*` keys the table was read with, so a rewrite by a
    forget run keeps them) plus the shard's own content hash, recomputed here: the
    hash covers the rows, never the metadata, so it can be stored inside the file.
    Returns that hash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if meta is None:
        old = table.schema.metadata or {}
        meta = {k.decode(): v.decode() for k, v in old.items() if k.decode().startswith(META_PREFIX)}
    if "shard" not in table.schema.names:  # a file written before the column existed
        m = re.match(r"^shard=(\d+)$", path.parent.name)
        if m is None:
            raise ValueError(f"{path}: no shard column and no shard=NN directory")
        table = table.append_column(SHARD_FIELD, pa.array([int(m.group(1))] * table.num_rows, pa.int32()))
    table = table.select(DATA_SCHEMA.names).cast(DATA_SCHEMA)
    digest = shard_hash(table)
    kv = {**{k: str(v) for k, v in meta.items()}, f"{META_PREFIX}shard_content_hash": digest}
    table = table.replace_schema_metadata(dict(sorted(kv.items())))
    pq.write_table(table, path, row_group_size=ROW_GROUP, **WRITE_OPTIONS)
    return digest


def file_metadata(snapshot: str, pack_ref: str, as_of: str, shard: int) -> dict[str, str]:
    """The `consentry.*` key-value metadata of one data file (the writer adds the shard hash)."""
    return {
        f"{META_PREFIX}snapshot": snapshot,
        f"{META_PREFIX}pack": pack_ref,
        f"{META_PREFIX}as_of": as_of,
        f"{META_PREFIX}shard": f"{shard:02d}",
    }


def shard_hash(table: pa.Table) -> str:
    """Hash of one shard's logical content (rows sorted by item_id), independent of file bytes."""
    h = hashlib.sha256()
    if table.num_rows:
        cols = [
            table.column("item_id"),
            table.column("member_id"),
            pc.fill_null(table.column("kind"), ""),
            pc.fill_null(pc.cast(pc.cast(table.column("created_at"), pa.int64()), pa.string()), ""),
            table.column("content_hash"),
        ]
        lines = pc.binary_join_element_wise(*cols, "\t")
        for chunk in lines.chunks:
            for value in chunk.to_pylist():
                h.update(value.encode("utf-8"))
                h.update(b"\n")
    return h.hexdigest()


def content_hash(shard_hashes: dict[int, str] | dict[str, str]) -> str:
    """The snapshot's content hash: sha256 over the per-shard hashes in shard order."""
    h = hashlib.sha256()
    for shard in sorted(shard_hashes, key=int):
        h.update(f"{int(shard):04d}:{shard_hashes[shard]}\n".encode())
    return h.hexdigest()
