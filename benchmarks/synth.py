"""Benchmark: synthetic network generation and export staging.

Prints items per second (wall and CPU), MB written and peak RSS for `synth.generate`,
then the same for `reader.stage_export` over the generated export (the validation
peer: both stream the same rows). Use --members to scale; --quick for a smoke run.

    .venv/bin/python benchmarks/synth.py --members 100000
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from consentry.network import reader, synth


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=40_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2,000 members")
    ap.add_argument("--out", type=Path, default=None, help="keep the export here")
    ap.add_argument("--no-stage", action="store_true", help="skip the staging benchmark")
    ap.add_argument("--format", choices=["parquet", "jsonl"], default="parquet",
                    help="export format (jsonl: generation converts with DuckDB, staging parses JSON)")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    members = 2_000 if args.quick else args.members
    root = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    out = args.out or root / "export"
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        s = synth.generate(out, members=members, seed=args.seed, progress=args.progress, fmt=args.format)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        items = s.counts["items"]
        print(f"synth.generate ({args.format}): {members:,} members, {items:,} items, {s.counts['pii_spans']:,} PII spans")
        print(f"  wall {wall:.1f}s  cpu {cpu:.1f}s  {items / wall:,.0f} items/s wall  "
              f"{items / cpu:,.0f} items/s per CPU-second  {s.bytes_written / 1e6:,.1f} MB written  "
              f"peak RSS {_peak_rss_mb():,.0f} MB")
        if not args.no_stage:
            rows = sum(v for k, v in s.counts.items() if k in reader.schema.TABLES)
            c0, t0 = time.process_time(), time.perf_counter()
            st = reader.stage_export(out, root / "staged", progress=args.progress)
            wall2, cpu2 = time.perf_counter() - t0, time.process_time() - c0
            assert sum(st.quarantined.values()) == 0
            print(f"reader.stage_export: {rows:,} rows ({st.counts['items']:,} items)")
            print(f"  wall {wall2:.1f}s  cpu {cpu2:.1f}s  {rows / wall2:,.0f} rows/s wall  "
                  f"{rows / cpu2:,.0f} rows/s per CPU-second  peak RSS {_peak_rss_mb():,.0f} MB")
            print(f"  staging/generation time ratio: {wall2 / wall:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
