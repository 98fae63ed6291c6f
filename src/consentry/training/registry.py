"""The model registry: which data trained which model version, as one JSON file.

Why JSON next to the checkpoints: the privacy center and receipts must be able to
answer "did my data train model X?" by reading a file, without loading torch.
Every version records its snapshot (purpose, version, content hash), per-shard data
hash, checkpoint chain, lineage (item ids, content hashes, members), metrics,
timings, its parent and whether it is live or superseded. Writes are atomic and
serialised by a file lock so `train` and `forget` can run side by side.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterator

from filelock import FileLock

LIVE, SUPERSEDED = "live", "superseded"


class RegistryError(KeyError):
    pass


class Registry:
    def __init__(self, models_dir: Path | str) -> None:
        self.root = Path(models_dir)
        self.file = self.root / "registry.json"
        self._lock = FileLock(str(self.root / ".registry.lock"))

    # ---- storage
    def _read(self) -> dict:
        if not self.file.exists():
            return {"versions": []}
        try:
            return json.loads(self.file.read_text())
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{self.file}: malformed registry JSON: {exc}") from exc

    def _write(self, data: dict) -> None:
        tmp = self.file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.file)

    @contextmanager
    def transaction(self) -> Iterator[dict]:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            data = self._read()
            yield data
            self._write(data)

    # ---- queries
    def versions(self, name: str | None = None) -> list[dict]:
        self.root.mkdir(parents=True, exist_ok=True)
        vs = self._read()["versions"]
        return [v for v in vs if name is None or v["name"] == name]

    def get(self, version: str) -> dict:
        for v in self.versions():
            if v["version"] == version:
                return v
        raise RegistryError(f"no model version {version!r} in {self.file}")

    def live(self, name: str | None = None, *, purpose: str | None = None, snapshot_version: str | None = None) -> list[dict]:
        return [
            v
            for v in self.versions(name)
            if v["status"] == LIVE
            and (purpose is None or v["snapshot"]["purpose"] == purpose)
            and (snapshot_version is None or v["snapshot"]["version"] == snapshot_version)
        ]

    def latest_live(self, name: str) -> dict | None:
        vs = self.live(name)
        return max(vs, key=lambda v: v["created_at"]) if vs else None

    def trained_on_member(self, member_id: str) -> list[dict]:
        """(version, shard) pairs whose lineage holds the member: what the center shows."""
        out = []
        for v in self.versions():
            for s in v["shards"]:
                if member_id in s["members"]:
                    out.append({"version": v["version"], "name": v["name"], "status": v["status"], "shard": s["shard"]})
        return out

    # ---- writes
    def register(self, entry: dict, *, supersede: str | None = None) -> dict:
        """Add a version (id assigned here); optionally mark its parent superseded."""
        with self.transaction() as data:
            n = sum(1 for v in data["versions"] if v["name"] == entry["name"]) + 1
            entry = {
                **entry,
                "version": f"{entry['name']}-{n:04d}",
                "created_at": datetime.now(UTC).isoformat(),
                "status": LIVE,
                "parent": supersede,
            }
            if supersede is not None:
                for v in data["versions"]:
                    if v["version"] == supersede and v["status"] == LIVE:
                        v["status"] = SUPERSEDED
                        v["superseded_by"] = entry["version"]
                        v["superseded_at"] = entry["created_at"]
            data["versions"].append(entry)
        return entry

    def update(self, version: str, **fields: object) -> None:
        with self.transaction() as data:
            for v in data["versions"]:
                if v["version"] == version:
                    v.update(fields)
                    return
        raise RegistryError(f"no model version {version!r}")

    def checkpoint_path(self, version: dict, ckpt: str) -> Path:
        return self.root / "checkpoints" / version["kind"] / ckpt
