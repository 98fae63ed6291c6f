"""A member page's decision latency: the plan asked for one member, on a large network.

The privacy center's member page and the API answer from the decision plan with the
member filter pushed into every input (`center.explain.purpose_views` →
`policy.decide.decide_members` over the staged export ∪ the ledger). This prints the
latency of that decision for the page's five purposes, per member page, over randomly
chosen members of a synthetic network (default 100,000 members; generated once and
staged once, cached under benchmarks/.data/; staging is reported on its own, as the
center does it once per export version). The ledger holds choices of 5% of the members.

    .venv/bin/python benchmarks/member_page.py                  # 100,000 members, 1,000 pages
    .venv/bin/python benchmarks/member_page.py --members 20000 --pages 300
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / ".data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--pages", type=int, default=1_000)
    ap.add_argument("--pack", default="linkedin-2024")
    args = ap.parse_args()

    import pyarrow.parquet as pq

    from consentry.center import explain
    from consentry.center.member import PAGE_PURPOSES
    from consentry.center.sources import Sources
    from consentry.ledger.store import Ledger
    from consentry.network import synth
    from consentry.policy.packs import load_pack
    from consentry.settings import Settings

    home = DATA / f"member-page-{args.members}"
    network = home / "network"
    if not (network / "members.parquet").is_file():
        t = time.perf_counter()
        print(f"generating {args.members:,} members into {network} ...", flush=True)
        synth.generate(network, members=args.members, seed=5, progress=False)
        print(f"  generated in {time.perf_counter() - t:.1f}s", flush=True)
    ids = pq.read_table(network / "members.parquet", columns=["member_id"]).column(0).to_pylist()
    rng = random.Random(5)
    url = f"sqlite:///{home / 'ledger.sqlite'}"
    ledger = Ledger(url).create()
    if ledger.counts()["consent_events"] == 0:
        ledger.append_events({"member_id": m, "purpose": "genai_training", "choice": "opt_out",
                              "source": "settings", "at": "2025-06-01T00:00:00Z",
                              "client_request_id": f"bench:{m}"} for m in rng.sample(ids, len(ids) // 20))
    src = Sources(Settings(home=home), ledger=ledger)
    t = time.perf_counter()
    src.staged_export()
    print(f"staging the export (once per export version): {time.perf_counter() - t:.1f}s", flush=True)
    pack = load_pack(args.pack)
    now = datetime.now(UTC)
    members = [rng.choice(ids) for _ in range(args.pages)]
    for m in members[:20]:  # warm-up: imports, IP databases, first queries
        explain.purpose_views(pack, src, m, None, [], now=now, purposes=PAGE_PURPOSES)
    times, used = [], 0
    for m in members:
        events = src.events(m)
        t = time.perf_counter()
        views = explain.purpose_views(pack, src, m, src.profile(m), events, now=now, purposes=PAGE_PURPOSES)
        times.append((time.perf_counter() - t) * 1000)
        used += sum(v.used for v in views)
    times.sort()
    q = statistics.quantiles(times, n=100)
    print(f"member page decision ({len(PAGE_PURPOSES)} purposes, {args.pack}, as of now) on {len(ids):,} members, "
          f"{len(members):,} pages: p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {times[-1]:.1f} ms "
          f"({used / (len(members) * len(PAGE_PURPOSES)):.0%} of purposes used)")


if __name__ == "__main__":
    main()
