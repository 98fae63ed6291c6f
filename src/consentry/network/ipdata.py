"""IP address pools per country, for synthetic sign-ins that geolocate correctly.

The synthetic network must produce sign-ins whose IPs the offline resolver
(`iptocc`) maps to the intended country, and datacenter/VPN addresses that
`iporigin` recognises, so that jurisdiction tests exercise the real lookup. The
pools are a small shipped table (`data/ip_prefixes.json`) of /24 prefixes, built by
`python -m consentry.network.ipdata` from those packages themselves; tests check
that every prefix still resolves as recorded.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

EEA = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO"
).split()
OTHER = "AU SG JP MX ZA NG AE KR AR ID PH TR NZ IL".split()
COUNTRIES: tuple[str, ...] = tuple(["US", "IN", "BR", "GB", "CH", "CA", "HK", *EEA, *OTHER])

_TABLE = "ip_prefixes.json"
_PER_COUNTRY = 24
_PROBE = (1, 77, 160, 254)


@lru_cache(maxsize=1)
def load_table() -> dict:
    """The shipped table: {"countries": {CC: [prefix, ...]}, "datacenter": [[prefix, cc, provider], ...]}."""
    text = resources.files("consentry.network").joinpath("data", _TABLE).read_text("utf-8")
    return json.loads(text)


def _fmt(prefixes: np.ndarray, last: int) -> list[str]:
    return [f"{p >> 16 & 255}.{p >> 8 & 255}.{p & 255}.{last}" for p in prefixes.tolist()]


def build_table(samples: int = 3_000_000, seed: int = 2024) -> dict:
    """Scan random /24 prefixes and keep those that every probe maps to one country."""
    import iporigin
    import iptocc

    rng = np.random.default_rng(seed)
    pref = np.unique(rng.integers(1 << 16, 224 << 16, samples, dtype=np.uint32))
    first = iptocc.country_code(_fmt(pref, _PROBE[0]))
    wanted = set(COUNTRIES)
    found: dict[str, list[str]] = {c: [] for c in COUNTRIES}
    dc: list[list[str]] = []
    cand = [i for i, c in enumerate(first) if c in wanted]
    for i in cand:
        p = int(pref[i])
        c = first[i]
        if len(found[c]) >= _PER_COUNTRY:
            continue
        probes = _fmt(np.array([p]), 0)[0].rsplit(".", 1)[0]
        ccs = iptocc.country_code([f"{probes}.{k}" for k in _PROBE])
        if all(x == c for x in ccs):
            found[c].append(probes)
    # datacenter / VPN ranges: hosting providers that iporigin recognises
    dc_kinds = set(iporigin.DATACENTER_KINDS)
    shuffled = rng.permutation(pref)[:1_500_000]
    origins = iporigin.classify_many(_fmt(shuffled, 10))
    per_cc: dict[str, int] = {}
    for p, o in zip(shuffled.tolist(), origins):
        if o.kind not in dc_kinds or len(dc) >= 120:
            continue
        base = f"{p >> 16 & 255}.{p >> 8 & 255}.{p & 255}"
        probes = [f"{base}.{k}" for k in _PROBE]
        ccs = iptocc.country_code(probes)
        if len(set(ccs)) == 1 and ccs[0] and all(iporigin.is_datacenter(x) for x in probes):
            if per_cc.get(ccs[0], 0) < 12:
                per_cc[ccs[0]] = per_cc.get(ccs[0], 0) + 1
                dc.append([base, ccs[0], o.provider])
    missing = [c for c, v in found.items() if not v]
    if missing:
        raise RuntimeError(f"no prefixes found for {missing}; raise samples")
    return {"countries": found, "datacenter": dc, "probes": list(_PROBE)}


def main() -> None:
    out = Path(__file__).with_name("data") / _TABLE
    table = build_table()
    out.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {out}: {sum(len(v) for v in table['countries'].values())} prefixes, "
          f"{len(table['datacenter'])} datacenter")


if __name__ == "__main__":
    main()
