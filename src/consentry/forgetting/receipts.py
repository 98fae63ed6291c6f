"""Receipts to members: what a forget run removed for them, from where, and when.

One JSON file per run and member under `receipts/<run_id>/<member_id>.json`. Only
ids, hashes and counts: a receipt must not re-create the data it reports erased.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from consentry.snapshots import layout

FORWARD_ONLY_NOTE = "existing snapshots and models are left as they are; new builds exclude you"


def write_receipt(receipts_dir: Path, run_id: str, member_id: str, body: dict[str, Any]) -> Path:
    d = Path(receipts_dir) / run_id
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{_safe(member_id)}.json"
    layout.write_atomic(path, json.dumps(body, indent=2, sort_keys=True, default=str).encode() + b"\n")
    return path


def write_receipts(receipts_dir: Path, run_id: str, bodies: dict[str, dict[str, Any]]) -> list[Path]:
    """All receipts of one run, published together: written aside, fsynced once, renamed."""
    receipts_dir = Path(receipts_dir)
    receipts_dir.mkdir(parents=True, exist_ok=True)
    final = receipts_dir / run_id
    tmp = layout.new_tmp(receipts_dir)
    names = []
    for member_id, body in sorted(bodies.items()):
        name = f"{_safe(member_id)}.json"
        (tmp / name).write_bytes(json.dumps(body, indent=2, sort_keys=True, default=str).encode() + b"\n")
        names.append(name)
    os.sync()  # one flush for the whole run instead of one fsync per receipt
    if final.exists():  # a second call in the same run adds to it
        for name in names:
            os.replace(tmp / name, final / name)
        tmp.rmdir()
    else:
        os.rename(tmp, final)
    layout.fsync_path(receipts_dir)
    return [final / n for n in names]


def receipts_for(receipts_dir: Path, member_id: str) -> list[dict[str, Any]]:
    """Every receipt a member has been given, oldest run first."""
    out = []
    for p in sorted(Path(receipts_dir).glob(f"*/{_safe(member_id)}.json")):
        out.append(json.loads(p.read_text("utf-8")))
    return sorted(out, key=lambda r: r.get("at", ""))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
