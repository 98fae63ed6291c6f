"""Snapshot build and forget at scale (DuckDB engine).

Prints end-to-end items/s of a build (staging, decisions, redaction, writing,
publishing), peak memory of the build (process + redaction workers, sampled from
/proc), and the time `forget` takes for N erasure requests against the time of a
full rebuild (the ratio is the point of physical, shard-local erasure).

Full run: 1,000,000 members / 10,000,000 items on 2 cores:
    python benchmarks/snapshot.py --members 1000000 --items 10000000 --workers 2
Quick run: python benchmarks/snapshot.py --quick
Targets: >= 20,000 items/s, < 4 GiB peak, forget >= 20x faster than a rebuild.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("CONSENTRY_REDACTION_KEY", "benchmark-key")


class PeakRSS:
    """Peak resident memory of this process plus its children (sampled every 50 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss(pid: int) -> int:
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            try:
                with open(f"/proc/{p}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                with open(f"/proc/{p}/task/{p}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss(os.getpid()))
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def make_network(out: Path, members: int, items: int | None, seed: int) -> int:
    """Generate the synthetic network; keep `items` items (a deterministic subset) if asked."""
    import duckdb

    from consentry.network import synth

    s = synth.generate(out, members=members, seed=seed, progress=True)
    n = s.counts["items"]
    if items and items < n:
        con = duckdb.connect()
        con.execute("SET memory_limit='2GB'")
        src, tmp = out / "items.parquet", out / "items.sub.parquet"
        con.execute(f"COPY (SELECT * FROM read_parquet('{src}') WHERE hash(item_id) % {n} < {items}) "
                    f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, src)
        n = con.execute(f"SELECT count(*) FROM read_parquet('{src}')").fetchone()[0]
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=10_000_000, help="keep this many items (0: all)")
    ap.add_argument("--erasures", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pack", default="linkedin-2024")
    ap.add_argument("--purpose", default="genai_training")
    ap.add_argument("--as-of", default="2025-12-01")
    ap.add_argument("--memory-limit", default="1500MB")
    ap.add_argument("--quick", action="store_true", help="20,000 members, all their items, 200 erasures")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = ap.parse_args()
    if args.quick:
        args.members, args.items, args.erasures = 20_000, 0, 200

    from consentry.forgetting.run import forget
    from consentry.ledger.store import Ledger
    from consentry.settings import Settings
    from consentry.snapshots import catalog, layout
    from consentry.snapshots.build import build_snapshot

    work = args.dir or Path(tempfile.mkdtemp(prefix="consentry-bench-"))
    net = work / "network"
    t = time.perf_counter()
    if not (net / "items.parquet").exists():
        n_items = make_network(net, args.members, args.items or None, seed=1)
    else:
        import pyarrow.parquet as pq

        n_items = pq.ParquetFile(net / "items.parquet").metadata.num_rows
    print(f"network: {args.members:,} members, {n_items:,} items ({time.perf_counter() - t:.0f}s to generate)")

    settings = Settings(home=work / "home", network_dir=net)  # forget reads the export for log scrubbing
    root = settings.snapshots
    shutil.rmtree(root, ignore_errors=True)
    with PeakRSS() as mem:
        t = time.perf_counter()
        m = build_snapshot(net, args.pack, args.purpose, args.as_of, root, workers=args.workers,
                           memory_limit=args.memory_limit)
        build_s = time.perf_counter() - t
    rate = n_items / build_s
    print(f"build ({args.workers} workers): {build_s:,.1f}s, {rate:,.0f} items/s end to end "
          f"[{'ok' if rate >= 20_000 else 'below'} target 20,000]; timings {m.timings}")
    print(f"  included {m.counts['included']:,}, excluded {m.counts['excluded']:,}, "
          f"quarantined items {m.counts['quarantined_items']:,}")
    print(f"peak memory (process + workers): {mem.peak / 2**30:.2f} GiB "
          f"[{'ok' if mem.peak < 4 * 2**30 else 'above'} target 4 GiB]")

    snap = catalog.load(root, args.purpose, m.version)
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    members = pc.unique(pq.read_table(snap.path / layout.LINEAGE, columns=["member_id"]).column(0))
    chosen = sorted(members.to_pylist())[:: max(1, len(members) // args.erasures)][: args.erasures]
    ledger = Ledger(settings.ledger).create()
    now = dt.datetime.now(dt.UTC)
    ledger.append_requests([{"member_id": mid, "kind": "erase_account", "at": now,
                             "client_request_id": f"bench-{mid}"} for mid in chosen])
    with PeakRSS() as fmem:
        t = time.perf_counter()
        rep = forget(pending=True, settings=settings, ledger=ledger, retrain=False)
        forget_s = time.perf_counter() - t
    ratio = build_s / forget_s
    snap_s = rep.timings.get("snapshots_s", forget_s)
    print(f"forget {len(chosen):,} erasures: {forget_s:,.1f}s end to end ({rep.items_removed:,} items, "
          f"{sum(len(r.shards) for r in rep.removals)} shard files rewritten, peak "
          f"{fmem.peak / 2**30:.2f} GiB; split {rep.summary()['timings']})")
    print(f"full rebuild {build_s:,.1f}s; rebuild/forget = {ratio:,.1f}x end to end "
          f"[{'ok' if ratio >= 20 else 'below'} target 20x]; rebuild/snapshot rewrite = "
          f"{build_s / snap_s:,.1f}x")
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
