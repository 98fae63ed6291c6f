"""How long `consentry requests process` takes to fulfil export requests, and that it closes them all.

A synthetic network (its `requests` table holds export requests, as an export does),
imported into a fresh SQLite ledger, with one genai_training snapshot built so that each
bundle carries lineage; then every pending export is fulfilled (the same code as the
command) and the dashboard's count of open export requests must be 0. Prints the
number of bundles, seconds per bundle, the median bundle size, and, as a peer measured
in the same run, the time of building one bundle without writing or closing anything.

    .venv/bin/python benchmarks/requests_process.py              # 2,000 members
    .venv/bin/python benchmarks/requests_process.py --members 500
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=2000)
    args = ap.parse_args()

    from consentry.center import fulfil
    from consentry.center.sources import Sources
    from consentry.ledger.store import Ledger
    from consentry.network import synth
    from consentry.policy.packs import load_pack
    from consentry.settings import Settings
    from consentry.snapshots.build import build_snapshot

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(home=home)
        synth.generate(settings.network, args.members, seed=7, progress=False)
        led = Ledger(settings.ledger).create()
        led.import_export(settings.network)
        build_snapshot(settings.network, "linkedin-2024", "genai_training", datetime.now(UTC), settings.snapshots,
                       workers=1, ledger=led)
        src, pack = Sources(settings, led), load_pack("linkedin-2024")
        pending = [r for r in led.pending_requests() if r.kind == "export"]
        if not pending:
            raise SystemExit("the network holds no export request; use more --members")
        fulfil.export_bundle(src, pack, pending[0].member_id)  # warm-up: DuckDB, caches
        t = time.perf_counter()
        outcomes = fulfil.process_exports(src, pack)
        took = time.perf_counter() - t
        t = time.perf_counter()
        for r in pending:
            fulfil.export_bundle(src, pack, r.member_id)
        peer = (time.perf_counter() - t) / len(pending)
        left = [r for r in fulfil.open_requests(src) if r["kind"] == "export"]
        sizes = [(home / led.request(o.request_id).result["bundle"]).stat().st_size
                 for o in outcomes if o.status == "processed"]
        print(f"members {args.members}: {len(pending)} export requests, {sum(o.status == 'processed' for o in outcomes)} "
              f"fulfilled, {len(left)} export requests still open "
              f"({sum(o.status == 'pending' for o in outcomes)} held for a pending account erasure)")
        print(f"requests process: {took:.2f} s, {took / max(len(outcomes), 1) * 1000:.0f} ms per request; "
              f"median bundle {statistics.median(sizes) / 1024:.1f} KiB")
        print(f"peer (the same bundles built in memory, not written or closed): {peer * 1000:.0f} ms per request")


if __name__ == "__main__":
    main()
