"""SISA training (Bourtoule et al., "Machine Unlearning", 2021) over snapshot shards.

Why: forgetting a member must not mean retraining everything. Each snapshot shard
trains its own constituent model; its rows (ordered by created_at, item_id) are cut
into R slices and trained in stages, stage r on slices 0..r. After every stage a
checkpoint is saved under a key derived from a *chain hash* of the data seen so far
(and the config and seed). After a removal the shard's chain is recomputed on the
cleaned data; training resumes from the last stage whose key is unchanged, so
the first affected slice and everything after it are retrained, and nothing before.

Exactness: every stage re-seeds torch from (seed, shard, stage) and the checkpoint
holds the model and optimizer state, with deterministic kernels on one thread, so
resuming gives bit-identical weights to training the shard from scratch on the
remaining data with the same seed and slice size (tested).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import torch


@dataclass(frozen=True)
class Record:
    """One training example as SISA sees it: a content hash plus its provenance."""

    key: str  # content hash of what the model sees (text hash, interaction hash)
    item_id: str
    member_id: str
    payload: Any = field(compare=False, hash=False, default=None)


class Trainer(Protocol):
    """What a model family provides to the SISA engine."""

    kind: str

    def config(self) -> dict: ...

    def init_state(self, shard: int, seed: int) -> dict: ...

    def train_stage(self, state: dict, seen: Sequence[Record], stage: int, seed: int) -> None: ...

    # optional: `setup(ckpt_dir, seed=, progress=) -> float` prepares what every shard starts
    # from (the assistant's public base, its lineage left in `trainer.base`); returns seconds


def sha256(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def config_hash(trainer: Trainer) -> str:
    """Config plus the lineage of any shared base the constituents start from."""
    base = getattr(trainer, "base", None)
    return sha256(trainer.kind, json.dumps(trainer.config(), sort_keys=True), *([json.dumps(base, sort_keys=True)] if base else []))


def derive_seed(seed: int, *parts: int) -> int:
    """A 63-bit seed from (seed, shard, stage, ...) independent of training history."""
    return int(sha256(str(seed), *map(str, parts))[:15], 16)


def set_deterministic() -> None:
    """One thread, deterministic kernels: the precondition for exact unlearning."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def make_slices(records: Sequence[Record], n_slices: int, slice_size: int | None = None) -> tuple[list[list[Record]], int]:
    """Cut ordered records into n_slices by position with a fixed slice size.

    The slice size is fixed at first training (ceil(n / R)) and inherited by every
    retraining, so removing a record never moves the slices *before* it; the last
    slice absorbs what does not fit.
    """
    n = len(records)
    if slice_size is None:
        slice_size = max(1, -(-n // n_slices))
    out = []
    for r in range(n_slices):
        lo = r * slice_size
        hi = n if r == n_slices - 1 else min(n, (r + 1) * slice_size)
        out.append(list(records[lo:hi]) if lo < n else [])
    return out, slice_size


def chain_hashes(slices: Sequence[Sequence[Record]], base: str) -> tuple[list[str], list[str]]:
    """(slice hashes, chain hashes): chain_r = H(chain_{r-1}, slice_r); chain_-1 = base."""
    s_hashes, chain, prev = [], [], base
    for sl in slices:
        sh = sha256("slice", *(r.key for r in sl))
        prev = sha256(prev, sh)
        s_hashes.append(sh)
        chain.append(prev)
    return s_hashes, chain


@dataclass
class ShardResult:
    shard: int
    slice_size: int
    slices: list[dict]  # data_hash, chain, checkpoint (relative), n
    items: list[str]
    item_members: list[str]
    content_hashes: list[str]
    members: list[str]
    resumed_from_stage: int  # -1: from scratch; k: stages 0..k reused
    trained_stages: list[int]
    seconds: float

    @property
    def data_hash(self) -> str:
        return self.slices[-1]["chain"] if self.slices else sha256("empty")

    @property
    def final_checkpoint(self) -> str:
        return self.slices[-1]["checkpoint"]

    def to_dict(self) -> dict:
        return {
            "shard": self.shard,
            "data_hash": self.data_hash,
            "slice_size": self.slice_size,
            "slices": self.slices,
            "items": self.items,
            "item_members": self.item_members,
            "content_hashes": self.content_hashes,
            "members": self.members,
            "resumed_from_stage": self.resumed_from_stage,
            "trained_stages": self.trained_stages,
            "seconds": round(self.seconds, 4),
        }


def train_shard(
    trainer: Trainer,
    records: Sequence[Record],
    *,
    shard: int,
    seed: int,
    n_slices: int,
    ckpt_dir: Path,
    slice_size: int | None = None,
    resume: bool = True,
) -> ShardResult:
    """Train (or resume) one constituent model; returns its lineage and checkpoint chain.

    With resume=True any stage whose checkpoint key already exists on disk is reused;
    the key covers config, seed, shard and every record seen, so reuse is exact.
    """
    set_deterministic()
    t0 = time.perf_counter()
    slices, size = make_slices(records, n_slices, slice_size)
    base = sha256(config_hash(trainer), str(seed), str(shard))
    s_hashes, chain = chain_hashes(slices, base)
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    paths = [ckpt_dir / f"{c}.pt" for c in chain]

    start = -1
    if resume:
        for r in range(len(chain) - 1, -1, -1):
            if paths[r].exists():
                start = r
                break
    state = trainer.init_state(shard, seed)
    if start >= 0:
        saved = torch.load(paths[start], weights_only=True)
        _load_state(state, saved)
    trained = []
    seen: list[Record] = [x for sl in slices[: start + 1] for x in sl]
    for r in range(start + 1, len(slices)):
        seen.extend(slices[r])
        torch.manual_seed(derive_seed(seed, shard, r))
        trainer.train_stage(state, seen, r, derive_seed(seed, shard, r, 1))
        _atomic_save(_dump_state(state), paths[r])
        trained.append(r)
    return ShardResult(
        shard=shard,
        slice_size=size,
        slices=[
            {"data_hash": s_hashes[r], "chain": chain[r], "checkpoint": paths[r].name, "n": len(slices[r])}
            for r in range(len(slices))
        ],
        items=[x.item_id for x in records],
        item_members=[x.member_id for x in records],
        content_hashes=[x.key for x in records],
        members=sorted({x.member_id for x in records}),
        resumed_from_stage=start,
        trained_stages=trained,
        seconds=time.perf_counter() - t0,
    )


def _dump_state(state: dict) -> dict:
    return {k: v.state_dict() for k, v in state.items() if hasattr(v, "state_dict")}


def _load_state(state: dict, saved: dict) -> None:
    for k, v in saved.items():
        state[k].load_state_dict(v)


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_model_state(path: Path) -> dict:
    return torch.load(path, weights_only=True)
