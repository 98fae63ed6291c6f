"""The manifest: what a snapshot was built from, what it holds, and what was later removed.

It is the one file a reader (training, the privacy center, an auditor) needs to
trust a snapshot: inputs with their watermarks, the pack version and as_of that
decided it, counts by reason and by region group, the content hash, the provenance
of the code and reference data (`provenance`), and every forget run applied since
(ids and hashes only, never text).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from consentry.snapshots import layout


class ForgetEntry(BaseModel):
    """One forget run applied to this snapshot."""

    run_id: str
    at: datetime
    request_ids: list[str] = Field(default_factory=list)
    reasons: dict[str, int] = Field(default_factory=dict)
    members: int = 0
    items_removed: int = 0
    shards_rewritten: list[int] = Field(default_factory=list)
    content_hash_before: str
    content_hash_after: str


class Manifest(BaseModel):
    purpose: str
    version: str = ""
    pack: str
    pack_version: str | None = None
    propagation: str | None = None
    as_of: datetime
    engine: str
    shards: int
    created_at: datetime
    inputs: dict[str, Any] = Field(default_factory=dict)
    ledger_position: Any = None
    counts: dict[str, Any] = Field(default_factory=dict)
    shard_hashes: dict[str, str] = Field(default_factory=dict)
    content_hash: str
    timings: dict[str, float] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)  # snapshots.provenance.collect
    forget_history: list[ForgetEntry] = Field(default_factory=list)

    @property
    def pack_ref(self) -> str:
        return f"{self.pack}@{self.pack_version}" if self.pack_version else self.pack

    def dumps(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True).encode() + b"\n"

    def write(self, snapshot_dir: Path) -> None:
        """Write the manifest and, from it, the dataset card (`card`), so they never disagree."""
        from consentry.snapshots import card

        layout.write_atomic(snapshot_dir / layout.MANIFEST, self.dumps())
        card.write(snapshot_dir, self)

    @classmethod
    def read(cls, snapshot_dir: Path) -> Manifest:
        path = snapshot_dir / layout.MANIFEST
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no manifest (not a snapshot)") from None
