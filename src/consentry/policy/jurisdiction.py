"""Where a sign-in came from: country and datacenter/VPN flag per IP, offline.

Jurisdiction is the most protective of the residence and the countries seen in
sign-ins during a pack's look-back window (the "appearing there via VPN" rule), so
the decision plan needs a small table `ip_geo(ip, country, is_datacenter)`. It is
computed once per distinct IP with the bundled offline databases of `iptocc`
(country, batch API) and `iporigin` (hosting/CDN/VPN/Tor ranges): no network
access, no per-row Python in the plan itself. A country seen through a datacenter
or VPN address still counts; the flag is recorded so explanations can say so.

`iporigin` classifies one address at a time (~15 µs each); for IPv4 we run the same
lookup (a search over its sorted, non-overlapping range starts) vectorised with
numpy over its own packed range file, and fall back to `classify` for IPv6 and for
any iporigin build whose file layout we do not recognise.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from functools import lru_cache

import iporigin
import iptocc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

IP_GEO = pa.schema(
    [
        pa.field("ip", pa.string()),
        pa.field("country", pa.string()),
        pa.field("is_datacenter", pa.bool_()),
    ]
)

_IPV4 = r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"


def resolve_ips(ips: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> pa.Table:
    """One row per distinct non-null IP: its ISO country (None when unknown) and flag.

    Unparseable addresses get country None and is_datacenter None: a sign-in from
    nowhere counts for nothing in the jurisdiction, and residence still decides.
    """
    arr = ips if isinstance(ips, (pa.Array, pa.ChunkedArray)) else pa.array(list(ips), pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(pc.drop_null(arr.cast(pa.string())))
    arr = pc.unique(pc.filter(arr, pc.not_equal(arr, "")))
    arr = pc.take(arr, pc.array_sort_indices(arr))
    if len(arr) == 0:
        return IP_GEO.empty_table()
    distinct = arr.to_pylist()
    countries = iptocc.country_code(distinct)
    return pa.table(
        {"ip": arr, "country": pa.array(countries, pa.string()), "is_datacenter": _datacenter(arr)},
        schema=IP_GEO,
    )


def _datacenter(arr: pa.Array) -> pa.Array:
    """is_datacenter per address: True/False, None when not an address."""
    out: list[bool | None] = [None] * len(arr)
    v4 = pc.match_substring_regex(arr, _IPV4).to_numpy(zero_copy_only=False)
    v4_idx = np.flatnonzero(v4)
    flags4 = _v4_flags(pc.take(arr, pa.array(v4_idx)))
    if flags4 is not None:
        for i, f in zip(v4_idx.tolist(), flags4.tolist(), strict=True):
            out[i] = f
        rest = np.flatnonzero(~v4).tolist()
    else:
        rest = list(range(len(arr)))
    for i in rest:
        s = arr[i].as_py()
        try:
            ipaddress.ip_address(s)
        except ValueError:
            continue
        out[i] = bool(iporigin.classify(s).is_datacenter)
    return pa.array(out, pa.bool_())


@lru_cache(maxsize=1)
def _v4_ranges() -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """iporigin's IPv4 ranges as numpy arrays: starts, ends, is-datacenter per range.

    Read straight from its packed file (format v1: header, labels, then fixed-size
    IPv4 records) with one `np.frombuffer`, which costs a millisecond where building
    iporigin's own Python arrays record by record costs 40. None for any other layout.
    """
    try:
        from iporigin import _data

        blob = _data.DATA_FILE.read_bytes()
        magic, version, _, n_labels, n_v4, _ = _data._HEADER.unpack_from(blob, 0)
        if magic != _data.MAGIC or version != 1 or _data._V4_RECORD.size != 10:
            return None
        offset, dc_label = _data._HEADER.size, []
        for _ in range(n_labels):
            (length,) = struct.unpack_from("<H", blob, offset)
            kind = blob[offset + 2:offset + 2 + length].decode("utf-8").partition("\t")[2]
            dc_label.append(kind in iporigin.DATACENTER_KINDS)
            offset += 2 + length
        rec = np.frombuffer(blob, dtype=np.dtype([("s", "<u4"), ("e", "<u4"), ("l", "<u2")]), count=n_v4,
                            offset=offset)
    except Exception:  # noqa: BLE001 - any layout change: use the public API instead
        return None
    return rec["s"].astype(np.uint64), rec["e"].astype(np.uint64), np.array(dc_label, dtype=bool)[rec["l"]]


def _v4_flags(v4: pa.Array) -> np.ndarray | None:
    """Vectorised iporigin lookup for IPv4 strings; None if the dataset is unfamiliar."""
    ranges = _v4_ranges()
    if ranges is None:
        return None
    starts, ends, dc = ranges
    if len(v4) == 0:
        return np.zeros(0, dtype=bool)
    octets = pc.split_pattern(v4, ".")
    flat = pc.list_flatten(octets).cast(pa.uint32()).to_numpy().reshape(-1, 4).astype(np.uint64)
    ints = (flat[:, 0] << 24) | (flat[:, 1] << 16) | (flat[:, 2] << 8) | flat[:, 3]
    pos = np.searchsorted(starts, ints, side="right") - 1
    ok = pos >= 0
    posc = np.where(ok, pos, 0)
    flags = ok & (ints <= ends[posc]) & dc[posc]
    # iporigin answers "reserved" (never a datacenter) for non-global addresses.
    return flags & _v4_global(ints)


_V4_NON_GLOBAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
)]


def _v4_global(ints: np.ndarray) -> np.ndarray:
    glob = np.ones(len(ints), dtype=bool)
    for net in _V4_NON_GLOBAL:
        lo, hi = int(net.network_address), int(net.broadcast_address)
        glob &= ~((ints >= lo) & (ints <= hi))
    return glob
