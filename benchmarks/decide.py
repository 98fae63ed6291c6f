"""Decision throughput: Parquet in → decisions Parquet out, on DuckDB.

Generates (once, cached under benchmarks/.data/) exports of 1,000,000 and 10,000,000
items with a fast vectorised generator of the columns the plan reads (20 items per
member, a realistic country mix, minors and unknown ages, sign-ins from real
country/datacenter IP prefixes, consent histories, erasure requests, notices), then
runs each decision in a fresh subprocess (DuckDB memory_limit 4GB) so that its peak
RSS is its own, three times per size (--repeat), and shows the median run. The peer
measured in the same run is a bare Parquet→Parquet copy of (item_id, member_id) over
the same items: the ratio says what the policy costs on top of reading and writing
the rows at all.

"with ledger" runs the same decision over the export plus a SQLite ledger read in
(`policy.decide.merge_ledger`, what `consentry decide` does by default): the ledger
holds the export's consent history as imported (same event ids) plus new opt-outs of
5% of the members, so the union must also deduplicate. Both figures are printed.

    .venv/bin/python benchmarks/decide.py --quick      # 1,000,000 items
    .venv/bin/python benchmarks/decide.py              # 1,000,000 and 10,000,000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent
DATA = ROOT / ".data"
ITEMS_PER_MEMBER = 20
AS_OF = "2025-01-15T00:00:00Z"
US_PER_DAY = 86_400_000_000
EPOCH_2015 = 1_420_070_400_000_000
EPOCH_2026 = 1_767_225_600_000_000

COUNTRIES = ["US", "IN", "BR", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "IE", "CH", "CA", "HK",
             "AU", "MX", "NG", "JP", "ZA"]
WEIGHTS = [30, 18, 8, 6, 5, 4, 3, 3, 2, 2, 1, 1, 1, 4, 1, 3, 3, 2, 2, 1]
KINDS = ["profile", "post", "article", "comment", "poll_response", "group_post", "resume", "ai_prompt",
         "feedback", "message", "inmail", "salary", "payment", "credential", "job_application"]
KIND_W = [5, 25, 5, 25, 3, 5, 2, 2, 2, 18, 3, 1, 1, 1, 2]


def _ids(prefix: str, n: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(pa.array(n).cast(pa.string()), 9, "0"), "")


def _pick(rng: np.random.Generator, values: list[str], weights: list[int], n: int) -> pa.Array:
    p = np.array(weights, dtype=float) / sum(weights)
    return pa.DictionaryArray.from_arrays(pa.array(rng.choice(len(values), n, p=p).astype(np.int32)),
                                          pa.array(values)).cast(pa.string())


def _ts(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(us, pa.timestamp("us", tz="UTC"), mask=mask)


def _ip_pools() -> tuple[dict[str, list[str]], list[str]]:
    try:
        from consentry.network.ipdata import load_table

        t = load_table()
        pools = {c: [p.rsplit(".", 1)[0] if p.count(".") == 3 else p for p in ps] for c, ps in t["countries"].items()}
        dc = [p[0].rsplit(".", 1)[0] if p[0].count(".") == 3 else p[0] for p in t["datacenter"]]
        return pools, dc
    except Exception:  # noqa: BLE001 - the network area's table is optional here
        return {}, []


def generate(items: int, out: Path, seed: int = 7) -> None:
    """Write members, items, signins, consent_events, requests, notices to `out`."""
    from consentry.network.schema import TABLES

    rng = np.random.default_rng(seed)
    members = max(1, items // ITEMS_PER_MEMBER)
    out.mkdir(parents=True, exist_ok=True)
    mid = np.arange(members)
    m_ids = _ids("m", mid)
    residence = _pick(rng, COUNTRIES, WEIGHTS, members)
    residence = pc.if_else(pa.array(rng.random(members) < 0.01), pa.scalar(None, pa.string()), residence)
    age_days = rng.integers(14 * 365, 80 * 365, members)
    birth = pa.array((20_000 - age_days).astype(np.int32), pa.date32(), mask=rng.random(members) < 0.05)
    joined = EPOCH_2015 + rng.integers(0, 9 * 365, members) * US_PER_DAY
    closed_mask = rng.random(members) >= 0.02
    members_t = pa.table({
        "member_id": m_ids, "display_name": m_ids, "residence_country": residence, "birth_date": birth,
        "joined_at": _ts(joined), "closed_at": _ts(joined + 400 * US_PER_DAY, closed_mask),
        "is_member": pa.array(rng.random(members) < 0.98), "handle": m_ids,
    }).cast(TABLES["members"])
    pq.write_table(members_t, out / "members.parquet", compression="zstd")

    owner = rng.integers(0, members, items)
    created = np.maximum(joined[owner], EPOCH_2015 + rng.integers(0, 11 * 365, items) * US_PER_DAY)
    texts = pa.array([f"Sample {k} text about product management, hiring and skills." for k in range(64)])
    items_t = pa.table({
        "item_id": _ids("i", np.arange(items)),
        "member_id": pc.take(m_ids, pa.array(owner)),
        "kind": _pick(rng, KINDS, KIND_W, items),
        "visibility": _pick(rng, ["public", "connections", "private"], [60, 30, 10], items),
        "created_at": _ts(created),
        "deleted_at": _ts(created + 200 * US_PER_DAY, rng.random(items) >= 0.03),
        "text": pc.take(texts, pa.array(rng.integers(0, 64, items))),
        "mentions": pa.nulls(items, pa.list_(pa.string())),
        "group_sensitive": pa.array(rng.random(items) < 0.02),
    }).cast(TABLES["items"])
    pq.write_table(items_t, out / "items.parquet", compression="zstd", row_group_size=1_000_000)
    del items_t

    pools, dc = _ip_pools()
    n_sign = members * 5
    who = rng.integers(0, members, n_sign)
    res_list = residence.to_numpy(zero_copy_only=False)
    where = res_list[who]
    travel = rng.random(n_sign) < 0.05
    travel_to = np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), n_sign)]
    where = np.where(travel | (where == None), travel_to, where)  # noqa: E711
    prefixes = np.array([(pools.get(c) or ["203.0.113"])[k % max(1, len(pools.get(c) or [1]))]
                         for c, k in zip(where, rng.integers(0, 1 << 20, n_sign), strict=True)], dtype=object)
    if dc:
        use_dc = rng.random(n_sign) < 0.03
        prefixes[use_dc] = np.array(dc, dtype=object)[rng.integers(0, len(dc), int(use_dc.sum()))]
    ips = pc.binary_join_element_wise(pa.array(prefixes, pa.string()),
                                      pa.array(rng.integers(1, 255, n_sign)).cast(pa.string()), ".")
    at = EPOCH_2026 - rng.integers(0, 700, n_sign) * US_PER_DAY
    pq.write_table(pa.table({"member_id": pc.take(m_ids, pa.array(who)), "ip": ips, "at": _ts(at)})
                   .cast(TABLES["signins"]), out / "signins.parquet", compression="zstd")

    n_ev = members // 2
    ev_who = rng.integers(0, members, n_ev)
    pq.write_table(pa.table({
        "event_id": _ids("e", np.arange(n_ev)),
        "member_id": pc.take(m_ids, pa.array(ev_who)),
        "purpose": _pick(rng, ["genai_training", "ml_personalization", "affiliate_sharing"], [6, 2, 2], n_ev),
        "choice": _pick(rng, ["opt_out", "opt_in", "object", "withdraw_objection"], [5, 3, 1, 1], n_ev),
        "source": _pick(rng, ["settings", "objection_form", "gpc"], [8, 1, 1], n_ev),
        "notice_version": pa.nulls(n_ev, pa.string()),
        "at": _ts(EPOCH_2026 - rng.integers(0, 700, n_ev) * US_PER_DAY),
    }).cast(TABLES["consent_events"]), out / "consent_events.parquet", compression="zstd")

    n_rq = max(1, members // 100)
    rq_who = rng.integers(0, members, n_rq)
    item_lists = pa.ListArray.from_arrays(pa.array(np.arange(n_rq + 1, dtype=np.int32)),
                                          _ids("i", rng.integers(0, items, n_rq)))
    pq.write_table(pa.table({
        "request_id": _ids("r", np.arange(n_rq)),
        "member_id": pc.take(m_ids, pa.array(rq_who)),
        "kind": _pick(rng, ["erase_items", "erase_account", "erase_ai_data", "export"], [5, 2, 2, 1], n_rq),
        "item_ids": item_lists,
        "at": _ts(EPOCH_2026 - rng.integers(0, 700, n_rq) * US_PER_DAY),
    }).cast(TABLES["requests"]), out / "requests.parquet", compression="zstd")

    nt = mid[rng.random(members) < 0.8]
    pq.write_table(pa.table({
        "member_id": pc.take(m_ids, pa.array(nt)),
        "notice_version": pa.array(["2024-09"] * len(nt)),
        "delivered_at": _ts(EPOCH_2015 + rng.integers(0, 11 * 365, len(nt)) * US_PER_DAY),
    }).cast(TABLES["notices"]), out / "notices.parquet", compression="zstd")
    make_ledger(out, members, rng)
    (out / "done.json").write_text(json.dumps({"items": items, "members": members, "seed": seed}))


def make_ledger(out: Path, members: int, rng: np.random.Generator) -> None:
    """A ledger holding the export's consent history (imported: same ids) and 5% new opt-outs."""
    from consentry.ledger.store import Ledger

    exported = pq.read_table(out / "consent_events.parquet").to_pylist()
    n_new = max(1, members // 20)
    who = rng.integers(0, members, n_new)
    new = [{"event_id": f"n{i:09d}", "member_id": f"m{w:09d}", "purpose": "genai_training", "choice": "opt_out",
            "source": "settings", "notice_version": None, "at": "2025-01-10T00:00:00Z"} for i, w in enumerate(who)]
    with Ledger(f"sqlite:///{out / 'ledger.sqlite'}") as ledger:
        ledger.create()
        rows = [{**r, "client_request_id": f"import:consent_events:{r['event_id']}"} for r in exported]
        rows += [{**r, "client_request_id": f"bench:{r['event_id']}"} for r in new]
        ledger.append_events(rows)


def run_one(data: Path, out: Path, mode: str, pack: str, threads: int) -> dict:
    """One timed run in this (fresh) process: 'decide' or the 'copy' peer."""
    import duckdb

    from consentry.cli.policy import write_decisions
    from consentry.policy.decide import decide

    # Start-up is not throughput: like the imports above, the lazy import pyarrow
    # makes of pandas on its first conversion is done before the clock starts (and
    # reported on its own). Loading the pack and the IP databases is counted.
    s0 = resource.getrusage(resource.RUSAGE_SELF)
    pa.array([0])
    s1 = resource.getrusage(resource.RUSAGE_SELF)
    startup = (s1.ru_utime - s0.ru_utime) + (s1.ru_stime - s0.ru_stime)
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    con = duckdb.connect()
    con.execute("SET memory_limit='4GB'")
    con.execute(f"SET threads={threads}")
    for name in ("members", "items", "signins", "consent_events", "requests", "notices"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{data / (name + '.parquet')}')")
    if mode == "ledger":  # the export plus the ledger, as `consentry decide` reads them
        from consentry.ledger.store import Ledger
        from consentry.policy.decide import ledger_tables, merge_ledger

        with Ledger(f"sqlite:///{data / 'ledger.sqlite'}") as ledger:
            merge_ledger(con, ledger_tables(ledger))
    if mode == "copy":
        write_decisions(con, con.sql("SELECT item_id, member_id FROM items"), out)
    else:
        write_decisions(con, decide(con, pack, "genai_training", AS_OF, enums=True), out)  # what `consentry decide` runs
    seconds = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rows = con.execute(f"SELECT count(*), count_if(allowed) FROM read_parquet('{out}')").fetchone() \
        if mode != "copy" else con.execute(f"SELECT count(*), 0 FROM read_parquet('{out}')").fetchone()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows[0], "allowed": rows[1], "peak_rss_mb": rss_kb / 1024,
            "startup_cpu_seconds": startup}


def measure(data: Path, mode: str, pack: str, threads: int) -> dict:
    out = data / f"out-{mode}.parquet"
    proc = subprocess.run(
        [sys.executable, __file__, "--run-one", str(data), "--mode", mode, "--pack", pack,
         "--threads", str(threads), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    out.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000,000 items only")
    ap.add_argument("--sizes", type=int, nargs="*", help="item counts (default 1e6 and 1e7)")
    ap.add_argument("--pack", default="linkedin-2024")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per size, each in a fresh process; the median run is shown (a shared host varies)")
    ap.add_argument("--run-one", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="decide", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(args.generate, args.out)
        return
    if args.run_one:
        print(json.dumps(run_one(args.run_one, args.out, args.mode, args.pack, args.threads)))
        return
    sizes = args.sizes or ([1_000_000] if args.quick else [1_000_000, 10_000_000])
    print(f"decide benchmark: pack {args.pack}, genai_training as of {AS_OF}, DuckDB threads={args.threads},"
          " memory_limit=4GB")
    print("items/s/core = items per CPU-second actually used (user+sys), so a shared, loaded machine"
          " does not understate it; wall items/s depends on how many cores were free.")
    print(f"{'items':>12} {'wall s':>7} {'cpu s':>7} {'items/s':>11} {'items/s/core':>13} {'peak RSS':>9} "
          f"{'allowed':>8} {'peer cpu s':>10} {'decide/peer':>11}  inputs")
    for n in sizes:
        data = DATA / f"decide-{n}"
        if not (data / "done.json").is_file():
            t = time.perf_counter()
            print(f"generating {n:,} items into {data} ...", flush=True)
            # in its own process: a child forked from a big parent inherits its peak RSS
            subprocess.run([sys.executable, __file__, "--generate", str(n), "--out", str(data)], check=True)
            print(f"  generated in {time.perf_counter() - t:.1f}s", flush=True)
        for mode, label in (("decide", "export only"), ("ledger", "export + ledger")):
            runs = []
            for _ in range(max(1, args.repeat)):  # decide and its peer back to back, so both see the same load
                peer = measure(data, "copy", args.pack, args.threads)
                r = measure(data, mode, args.pack, args.threads)
                assert r["rows"] == n, f"every item must be decided exactly once: {r['rows']} != {n}"
                runs.append((r, peer))
            runs.sort(key=lambda rp: rp[0]["cpu_seconds"])
            r, peer = runs[len(runs) // 2]
            print(f"{n:>12,} {r['seconds']:>7.2f} {r['cpu_seconds']:>7.2f} {n / r['seconds']:>11,.0f} "
                  f"{n / r['cpu_seconds']:>13,.0f} {r['peak_rss_mb']:>7.0f}MB {r['allowed'] / n:>8.1%} "
                  f"{peer['cpu_seconds']:>10.2f} {r['cpu_seconds'] / peer['cpu_seconds']:>10.2f}x  {label}",
                  flush=True)
            if len(runs) > 1:
                print(f"{'':>12} median of {len(runs)} runs; items/s/core of each: "
                      + ", ".join(f"{n / x['cpu_seconds']:,.0f}" for x, _ in runs), flush=True)
        print(f"{'':>12} (not counted: {r['startup_cpu_seconds']:.2f} cpu s of lazy imports at start-up)", flush=True)


if __name__ == "__main__":
    main()
