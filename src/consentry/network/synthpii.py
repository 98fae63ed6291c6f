"""Vectorised generators of personal data values for the synthetic network.

Each function returns an Arrow string array of n values built from numpy arrays, so
that millions of values cost milliseconds, and every value is valid by the rules a
detector checks: card numbers pass Luhn, IBANs pass ISO 13616 mod-97, US SSNs avoid
the never-issued ranges, phone numbers are valid for `phonenumbers`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentry.network.ipdata import load_table

_LETTER = {chr(c): c - 55 for c in range(65, 91)}  # A=10 .. Z=35 (ISO 13616)


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literals."""
    return pc.binary_join_element_wise(*parts, "")


def take(values: pa.Array | list[str], idx: np.ndarray) -> pa.Array:
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    return values.take(pa.array(idx, pa.int64()))


def num_str(x: np.ndarray, width: int = 0) -> pa.Array:
    s = pc.cast(pa.array(x, pa.int64()), pa.string())
    return pc.utf8_lpad(s, width, padding="0") if width else s


def format_digits(digits: np.ndarray, pattern: str) -> pa.Array:
    """Render a (n, k) digit matrix through a pattern whose '#' take the digits in order."""
    n = digits.shape[0]
    pat = np.frombuffer(pattern.encode("ascii"), dtype=np.uint8)
    out = np.broadcast_to(pat, (n, len(pat))).copy()
    slots = np.flatnonzero(pat == ord("#"))
    out[:, slots] = digits[:, : len(slots)] + 48
    flat = np.ascontiguousarray(out).view(f"S{len(pat)}").ravel()
    return pa.array(flat, pa.binary()).cast(pa.string())


def luhn_check_digit(payload: np.ndarray) -> np.ndarray:
    """Check digit for each row of a digit matrix (Luhn / ISO/IEC 7812)."""
    k = payload.shape[1]
    doubled = ((k - np.arange(k)) % 2) == 1  # rightmost payload digit is doubled
    d = payload.astype(np.int64)
    dd = np.where(doubled, d * 2, d)
    dd = np.where(dd > 9, dd - 9, dd)
    return ((10 - dd.sum(axis=1) % 10) % 10).astype(np.int64)


def credit_cards(rng: np.random.Generator, n: int) -> pa.Array:
    """Visa / Mastercard numbers that pass Luhn, printed with or without spaces."""
    payload = rng.integers(0, 10, (n, 15))
    visa = rng.random(n) < 0.55
    payload[visa, 0] = 4
    payload[~visa, 0] = 5
    payload[~visa, 1] = rng.integers(1, 6, int((~visa).sum()))
    full = np.concatenate([payload, luhn_check_digit(payload)[:, None]], axis=1)
    spaced = format_digits(full, "#### #### #### ####")
    compact = format_digits(full, "#" * 16)
    return pc.if_else(pa.array(rng.random(n) < 0.6), spaced, compact)


# country, BBAN layout ('n' digit, 'a' upper-case letter), length 4-grouping when printed
_IBAN_LAYOUTS = (("DE", "n" * 18), ("GB", "aaaa" + "n" * 14), ("NL", "aaaa" + "n" * 10),
                 ("AT", "n" * 16), ("IE", "aaaa" + "n" * 14), ("PL", "n" * 24), ("CH", "n" * 17))


def ibans(rng: np.random.Generator, n: int) -> pa.Array:
    """IBANs of several countries with correct ISO 13616 mod-97 check digits."""
    which = rng.integers(0, len(_IBAN_LAYOUTS), n)
    results = []
    order = []
    for li, (cc, layout) in enumerate(_IBAN_LAYOUTS):
        rows = np.flatnonzero(which == li)
        if rows.size == 0:
            continue
        m = rows.size
        vals = np.where(
            np.array([c == "n" for c in layout]),
            rng.integers(0, 10, (m, len(layout))),
            rng.integers(10, 36, (m, len(layout))),
        )
        # mod 97 of BBAN + country letters + "00", by Horner over columns
        r = np.zeros(m, dtype=np.int64)
        for j in range(vals.shape[1]):
            v = vals[:, j]
            r = (r * np.where(v > 9, 100, 10) + v) % 97
        for ch in cc:
            r = (r * 100 + _LETTER[ch]) % 97
        r = (r * 100) % 97
        check = 98 - r
        chars = np.where(vals > 9, vals + 55, vals + 48).astype(np.uint8)
        bban = pa.array(np.ascontiguousarray(chars).view(f"S{len(layout)}").ravel(), pa.binary()).cast(pa.string())
        compact = join(cc, num_str(check, 2), bban)
        results.append(compact)
        order.append(rows)
    idx = np.concatenate(order)
    compact = pa.concat_arrays(results).take(pa.array(np.argsort(idx, kind="stable")))
    # print half of them in groups of four, as on statements
    grouped = pc.utf8_rtrim_whitespace(pc.replace_substring_regex(compact, r"(.{4})", r"\1 "))
    return pc.if_else(pa.array(rng.random(n) < 0.5), grouped, compact)


def ssns(rng: np.random.Generator, n: int) -> pa.Array:
    """US social security numbers outside the never-issued areas (000, 666, 900-999)."""
    area = rng.integers(1, 899, n)
    area = np.where(area == 666, 667, area)
    group = rng.integers(1, 100, n)
    serial = rng.integers(1, 10000, n)
    return join(num_str(area, 3), "-", num_str(group, 2), "-", num_str(serial, 4))


PHONE_COUNTRIES = ("US", "IN", "BR", "GB", "DE", "FR", "NL", "ES", "IT", "IE", "CH", "CA", "HK", "PL", "SE")


@lru_cache(maxsize=1)
def phone_pool() -> dict[str, list[str]]:
    """Valid international numbers per country, varied from phonenumbers' own examples."""
    import phonenumbers as ph

    rng = np.random.default_rng(97)
    pool: dict[str, list[str]] = {}
    for cc in PHONE_COUNTRIES:
        found: list[str] = []
        for kind in (ph.PhoneNumberType.MOBILE, ph.PhoneNumberType.FIXED_LINE):
            ex = ph.example_number_for_type(cc, kind)
            if ex is None:
                continue
            base = str(ex.national_number)
            for _ in range(200):
                tail = "".join(str(d) for d in rng.integers(0, 10, 4))
                num = ph.parse(f"+{ex.country_code}{base[:-4]}{tail}", None)
                if ph.is_valid_number(num):
                    text = ph.format_number(num, ph.PhoneNumberFormat.INTERNATIONAL)
                    if text not in found:
                        found.append(text)
                if len(found) >= 24:
                    break
        pool[cc] = found
    return pool


def phones(rng: np.random.Generator, countries: pa.Array) -> pa.Array:
    """A valid number of the given country (the US when we have no pool for it)."""
    pool = phone_pool()
    names = list(PHONE_COUNTRIES)
    flat = [p for cc in names for p in pool[cc]]
    starts = np.cumsum([0] + [len(pool[cc]) for cc in names])
    ci = pc.index_in(pc.fill_null(countries, "US"), pa.array(names)).fill_null(0).to_numpy(zero_copy_only=False)
    size = starts[ci + 1] - starts[ci]
    pick = starts[ci] + (rng.random(len(ci)) * size).astype(np.int64)
    return take(flat, pick)


@lru_cache(maxsize=1)
def ip_prefix_arrays() -> tuple[list[str], pa.Array, np.ndarray, pa.Array, pa.Array]:
    """(countries, flat prefixes, offsets, datacenter prefixes, their countries)."""
    t = load_table()
    countries = sorted(t["countries"])
    flat = [p for c in countries for p in t["countries"][c]]
    offs = np.cumsum([0] + [len(t["countries"][c]) for c in countries])
    dc = pa.array([row[0] for row in t["datacenter"]], pa.string())
    dc_cc = pa.array([row[1] for row in t["datacenter"]], pa.string())
    return countries, pa.array(flat, pa.string()), offs, dc, dc_cc


def ips_for(rng: np.random.Generator, countries: np.ndarray) -> pa.Array:
    """An IPv4 address inside a range that iptocc maps to each given country index."""
    _, flat, offs, _, _ = ip_prefix_arrays()
    size = offs[countries + 1] - offs[countries]
    pick = offs[countries] + (rng.random(len(countries)) * size).astype(np.int64)
    return join(flat.take(pa.array(pick)), ".", num_str(rng.integers(1, 255, len(countries))))


def datacenter_ips(rng: np.random.Generator, n: int) -> pa.Array:
    _, _, _, dc, _ = ip_prefix_arrays()
    pick = rng.integers(0, len(dc), n)
    return join(dc.take(pa.array(pick)), ".", num_str(rng.integers(1, 255, n)))
