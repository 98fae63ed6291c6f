"""The synthetic professional network: a deterministic platform export with ground truth.

Every test, benchmark and demo needs an export that looks like a real one (country
mix, minors, VPN sign-ins, private messages, consent histories, personal data in
text) and whose answers are known (true PII spans, canaries). The generator is
columnar: members are produced in fixed-size chunks, each chunk from its own
numpy Generator seeded by (seed, chunk), and every column is built with numpy and
Arrow kernels, so a million members stream to Parquet in bounded memory and the
same seed gives byte-identical files.

Attributes that other members' items need (display name, handle, member or not)
are pure functions of the member index, so mentions across chunks are consistent
without holding the whole population in memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry import vocab
from consentry.network import schema
from consentry.network.ipdata import COUNTRIES, EEA
from consentry.network.lexicon import Occupations, lexicon, load_occupations
from consentry.network.synthpii import (
    credit_cards,
    datacenter_ips,
    ibans,
    ip_prefix_arrays,
    join,
    num_str,
    phones,
    ssns,
    take,
)
from consentry.network.templates import BODY, CLOSERS, render

CHUNK_MEMBERS = 5_000
"""Members per chunk; fixed so that output never depends on machine memory."""

US_PER_DAY = 86_400_000_000


def _us(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp() * 1_000_000)


def _days(y: int, m: int, d: int) -> int:
    return (date(y, m, d) - date(1970, 1, 1)).days


ITEMS_FROM = _us(2019, 1, 1)
ITEMS_TO = _us(2026, 11, 1)
JOINED_FROM = _us(2008, 1, 1)
JOINED_TO = _us(2026, 6, 30)
GENAI_SETTING = _us(2024, 9, 18)
LEGIT_INTEREST = _us(2025, 11, 3)
AGE_REFERENCE = _days(2025, 6, 1)

# residence mix; the EEA remainder is shared evenly among the other EEA countries
_MAIN_WEIGHTS = {
    "US": 0.28, "IN": 0.13, "BR": 0.07, "GB": 0.07, "CA": 0.04, "CH": 0.02, "HK": 0.02,
    "DE": 0.05, "FR": 0.04, "NL": 0.025, "ES": 0.025, "IT": 0.025, "PL": 0.015, "IE": 0.01,
}
_EEA_REST = 0.06
_OTHER_SHARE = 0.10
UNKNOWN_RESIDENCE = 0.01

KIND_WEIGHTS = {
    "post": 0.22, "comment": 0.24, "article": 0.03, "poll_response": 0.04, "group_post": 0.06,
    "resume": 0.015, "ai_prompt": 0.05, "feedback": 0.015, "message": 0.2, "inmail": 0.04,
    "salary": 0.01, "payment": 0.01, "credential": 0.01, "job_application": 0.035, "profile": 0.0,
}
# visibility probabilities per kind: (public, connections, private)
VISIBILITY = {
    "profile": (0.85, 0.15, 0.0), "post": (0.7, 0.25, 0.05), "article": (0.95, 0.05, 0.0),
    "comment": (0.8, 0.2, 0.0), "poll_response": (0.6, 0.4, 0.0), "group_post": (0.2, 0.7, 0.1),
    "resume": (0.0, 0.4, 0.6),
}
PRIVATE_KINDS = ("ai_prompt", "feedback", "message", "inmail", "salary", "payment", "credential",
                 "job_application")
# chance of an injected PII sentence in the middle (p1) and at the end (p2) of an item
PII_RATE = {"message": (0.5, 0.3), "inmail": (0.5, 0.3), "resume": (0.8, 0.6),
            "job_application": (0.7, 0.5), "payment": (1.0, 0.0), "salary": (0.6, 0.0),
            "credential": (1.0, 0.2)}
PII_DEFAULT = (0.12, 0.08)
MENTION_RATE = {"post": 0.2, "comment": 0.25, "article": 0.15, "group_post": 0.2, "message": 0.1,
                "inmail": 0.05, "profile": 0.03}

PII_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "NATIONAL_ID", "STREET_ADDRESS", "URL",
             "IP_ADDRESS", "PERSON", "LOCATION")
PII_WEIGHTS = (0.2, 0.18, 0.06, 0.06, 0.04, 0.1, 0.1, 0.05, 0.13, 0.08)
# which kinds force which PII types into slot 1
PII_FORCED = {"payment": ("CREDIT_CARD", "IBAN"), "credential": ("NATIONAL_ID", "CREDIT_CARD"),
              "salary": ("IBAN",)}
PII_PHRASES = {
    "EMAIL": [("You can reach me at ", ". "), ("Send your CV to ", " before Friday. "),
              ("My new email is ", ", please update your contacts. ")],
    "PHONE": [("Call me on ", " any time this week. "), ("My number: ", ". "),
              ("Text ", " if you are interested. ")],
    "CREDIT_CARD": [("Please charge my card ", " for the renewal. "), ("Card number ", ", exp 09/28. ")],
    "IBAN": [("Please wire the fee to IBAN ", ". "), ("My bank account for the refund is ", ". ")],
    "NATIONAL_ID": [("My SSN is ", " for the background check. "), ("SSN: ", ". ")],
    "STREET_ADDRESS": [("Our new office is at ", ". "), ("Please send the contract to ", ". "),
                       ("I live at ", ", close to the station. ")],
    "URL": [("Portfolio: ", " (updated monthly). "), ("Apply here: ", " and mention my name. "),
            ("Slides are at ", " for anyone who missed the talk. ")],
    "IP_ADDRESS": [("The VPN gateway is ", ", ask IT for access. "),
                   ("Our staging server at ", " is down again. ")],
    "PERSON": [("I had a great call with ", " yesterday. "), ("Reference available from ", " on request. ")],
    "LOCATION": [("I am relocating to ", " next month. "), ("Based in ", ", open to remote work. ")],
}
MENTION_PHRASES = [("Big thanks to ", " for the support on this. "),
                   ("Congratulations ", " on the new role! "),
                   ("I worked with ", " on this project and learned a lot. ")]
HANDLE_PHRASES = [("cc ", " "), ("Shout-out to ", "! ")]
CANARY_FORMATS = ["my locker code is ", "the alarm code for my flat is ", "my gym PIN is "]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "mail.com"]
NOTICES = (("2023-06", _us(2023, 6, 1), _us(2023, 6, 30)),
           ("2024-09", _us(2024, 8, 19), _us(2024, 9, 17)),
           ("2025-11", _us(2025, 10, 1), _us(2025, 11, 2)))


@dataclass
class SynthSummary:
    out: Path
    seed: int
    members: int
    counts: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0
    occupations: str = ""

    @property
    def items_per_second(self) -> float:
        return self.counts.get("items", 0) / self.seconds if self.seconds else 0.0


# ----------------------------------------------------------------------------- helpers


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a counter-based hash, so attributes are pure functions of the index."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(w) - 1)


def _between(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int) -> np.ndarray:
    lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), (n,))
    hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), (n,))
    span = np.maximum(hi - lo, 0)
    return lo + (rng.random(n) * span).astype(np.int64)


def _ts(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(us.astype(np.int64), schema.TS, mask=mask)


def _cap(a: pa.Array) -> pa.Array:
    return join(pc.utf8_upper(pc.utf8_slice_codeunits(a, 0, 1)), pc.utf8_slice_codeunits(a, 1))


def _repeat_idx(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner index per row, position of the row within its owner)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum())) - starts[owner]
    return owner, pos


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return join(prefix, num_str(numbers, width))


def _lists(counts: np.ndarray, values: pa.Array, null_mask: np.ndarray | None = None) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    mask = pa.array(null_mask) if null_mask is not None else None
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=pa.list_(pa.string()), mask=mask)


# ----------------------------------------------------------------------------- population


class Population:
    """Attributes of member i that anyone may need, as pure functions of (seed, i)."""

    def __init__(self, seed: int, members: int):
        lx = lexicon()
        self.seed, self.members = seed, members
        self.first = pa.array(lx["first_names"], pa.string())
        self.last = pa.array(lx["last_names"], pa.string())
        self.first_lower = pc.utf8_lower(self.first)
        self.last_lower = pc.utf8_lower(self.last)
        self.key = np.uint64((seed * 0x2545F4914F6CDD1D) % (1 << 64))

    def _hash(self, idx: np.ndarray) -> np.ndarray:
        return _mix(idx.astype(np.uint64) ^ self.key)

    def name_parts(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = self._hash(idx)
        return ((h % np.uint64(len(self.first))).astype(np.int64),
                ((h >> np.uint64(20)) % np.uint64(len(self.last))).astype(np.int64))

    def is_member(self, idx: np.ndarray) -> np.ndarray:
        return ((self._hash(idx) >> np.uint64(40)) % np.uint64(10_000)) >= np.uint64(300)

    def member_id(self, idx: np.ndarray) -> pa.Array:
        return _ids("m", idx, 7)

    def display_name(self, idx: np.ndarray) -> pa.Array:
        fi, li = self.name_parts(idx)
        return join(self.first.take(pa.array(fi)), " ", self.last.take(pa.array(li)))

    def handle(self, idx: np.ndarray) -> pa.Array:
        fi, li = self.name_parts(idx)
        return join("@", self.first_lower.take(pa.array(fi)), ".", self.last_lower.take(pa.array(li)),
                    num_str(idx))


def _country_table() -> tuple[list[str], np.ndarray]:
    rest_eea = [c for c in EEA if c not in _MAIN_WEIGHTS]
    others = [c for c in COUNTRIES if c not in _MAIN_WEIGHTS and c not in EEA]
    names = list(_MAIN_WEIGHTS) + rest_eea + others
    w = list(_MAIN_WEIGHTS.values()) + [_EEA_REST / len(rest_eea)] * len(rest_eea) + \
        [_OTHER_SHARE / len(others)] * len(others)
    return names, np.array(w)


# ----------------------------------------------------------------------------- generator


class _Generator:
    def __init__(self, seed: int, members: int, occupations: Occupations):
        self.seed, self.n = seed, members
        self.pop = Population(seed, members)
        self.occ = occupations
        lx = lexicon()
        self.companies = pa.array(lx["companies"], pa.string())
        self.company_slugs = pc.utf8_lower(pc.replace_substring(self.companies, " ", "-"))
        self.skills = pa.array(lx["skills"], pa.string())
        self.skills_cap = _cap(self.skills)
        self.tags = pc.utf8_lower(pc.replace_substring(self.skills, " ", ""))
        self.streets = pa.array(lx["streets"], pa.string())
        self.street_types = pa.array(lx["street_types"], pa.string())
        cities = lx["cities"]
        self.city_keys = [k for k in cities if k != "*"]
        self.city_flat = pa.array([c for k in self.city_keys + ["*"] for c in cities[k]], pa.string())
        self.city_offs = np.cumsum([0] + [len(cities[k]) for k in self.city_keys + ["*"]])
        self.countries, w = _country_table()
        self.country_w = np.append(w * (1 - UNKNOWN_RESIDENCE), UNKNOWN_RESIDENCE)
        self.ip_countries = ip_prefix_arrays()[0]
        self.kinds = list(KIND_WEIGHTS)
        n_occ = len(occupations.titles)
        rng = np.random.default_rng([seed, 1])
        self.n_jobs = max(20, members // 10)
        self.k_occ = min(300, n_occ, self.n_jobs)
        self.occ_pick = np.sort(rng.choice(n_occ, self.k_occ, replace=False))
        self.titles = pa.array([occupations.titles[i] for i in self.occ_pick], pa.string())
        self.titles_cap = _cap(self.titles)
        self.titles_a = pa.array([("an " if t[:1].lower() in "aeiou" else "a ") + t for t in self.titles.to_pylist()],
                                 pa.string())
        self.descs = pa.array([occupations.descriptions[i] for i in self.occ_pick], pa.string())
        self.non_members = np.flatnonzero(~self.pop.is_member(np.arange(members, dtype=np.int64)))
        # jobs: every occupation at least once, then at random; grouped by occupation
        job_occ = np.concatenate([np.arange(self.k_occ), rng.integers(0, self.k_occ, self.n_jobs - self.k_occ)])
        self.job_occ = np.sort(job_occ, kind="stable")
        self.job_occ_start = np.searchsorted(self.job_occ, np.arange(self.k_occ + 1))
        self.jobs_rng = rng
        self.canaries_so_far = 0

    # -- small vocab helpers
    def cities_for(self, rng: np.random.Generator, cc: pa.Array) -> pa.Array:
        ci = pc.index_in(cc, pa.array(self.city_keys)).fill_null(len(self.city_keys))
        ci = ci.to_numpy(zero_copy_only=False)
        size = self.city_offs[ci + 1] - self.city_offs[ci]
        return self.city_flat.take(pa.array(self.city_offs[ci] + (rng.random(len(ci)) * size).astype(np.int64)))

    def country_index_for_ip(self, cc: pa.Array, rng: np.random.Generator) -> np.ndarray:
        ci = pc.index_in(cc, pa.array(self.ip_countries)).fill_null(-1).to_numpy().astype(np.int64)
        missing = ci < 0
        ci[missing] = rng.integers(0, len(self.ip_countries), int(missing.sum()))
        return ci

    # -- jobs
    def jobs(self) -> pa.Table:
        rng = self.jobs_rng
        n = self.n_jobs
        occ = self.job_occ
        cc_idx = _choice(rng, n, self.country_w[:-1])
        cc = take(self.countries, cc_idx)
        city = self.cities_for(rng, cc)
        company = self.companies.take(pa.array(rng.integers(0, len(self.companies), n)))
        title = self.titles.take(pa.array(occ))
        s1 = self.skills.take(pa.array(rng.integers(0, len(self.skills), n)))
        s2 = self.skills.take(pa.array(rng.integers(0, len(self.skills), n)))
        text = join(company, " is hiring a ", title, " in ", city, ". ", self.descs.take(pa.array(occ)),
                    " Must-have skills: ", s1, " and ", s2, ".")
        return pa.table({
            "job_id": _ids("j", np.arange(n), 7), "title": title, "text": text, "country": cc,
            "posted_at": _ts(_between(rng, _us(2023, 1, 1), ITEMS_TO, n)),
        }, schema=schema.JOBS)

    # -- one chunk of members
    def chunk(self, c: int, lo: int, hi: int, item_base: int) -> dict[str, pa.Table]:
        rng = np.random.default_rng([self.seed, 2, c])
        m = hi - lo
        idx = np.arange(lo, hi, dtype=np.int64)
        pop = self.pop
        is_member = pop.is_member(idx)
        mid = pop.member_id(idx)
        cc_i = _choice(rng, m, self.country_w)
        unknown_cc = cc_i == len(self.countries)
        cc = pc.if_else(pa.array(unknown_cc), pa.scalar(None, pa.string()),
                        take(self.countries, np.minimum(cc_i, len(self.countries) - 1)))
        joined = _between(rng, JOINED_FROM, JOINED_TO, m)
        closed_mask = (rng.random(m) < 0.04) & is_member
        closed = _between(rng, joined + 30 * US_PER_DAY, ITEMS_TO, m)
        age_draw = rng.random(m)
        minor = age_draw < 0.03
        unknown_age = (age_draw >= 0.03) & (age_draw < 0.08)
        age_days = np.where(minor, _between(rng, 13 * 365 + 4, 18 * 365 - 4, m),
                            _between(rng, 18 * 365 + 5, 70 * 365, m))
        birth = AGE_REFERENCE - age_days
        occ_of = rng.integers(0, self.k_occ, m)
        members = pa.table({
            "member_id": mid, "display_name": pop.display_name(idx), "residence_country": cc,
            "birth_date": pa.array(birth.astype(np.int32), pa.date32(), mask=unknown_age | ~is_member),
            "joined_at": _ts(joined, ~is_member), "closed_at": _ts(closed, ~closed_mask),
            "is_member": pa.array(is_member), "handle": pop.handle(idx),
        }, schema=schema.MEMBERS)

        # items: how many per member, between joining (or 2019) and closing (or the horizon)
        start = np.maximum(joined, ITEMS_FROM)
        end = np.where(closed_mask, np.minimum(closed, ITEMS_TO), ITEMS_TO)
        counts = rng.negative_binomial(2, 2 / (2 + 24), m) + 1
        counts = np.where(is_member & (end > start), counts, 0)
        items, truth, canaries = self.items(rng, c, idx, mid, cc, counts, start, end, closed_mask,
                                            occ_of, item_base)
        out = {"members": members, "items": items, "truth": truth}
        out.update(canaries)
        out["signins"] = self.signins(rng, mid, cc, is_member, joined)
        out["consent_events"], out["notices"] = self.consent(rng, idx, mid, is_member, joined)
        out["requests"] = self.requests(rng, idx, mid, is_member, counts, item_base)
        out["job_interactions"] = self.interactions(rng, mid, is_member, occ_of)
        return out

    def items(self, rng, c, idx, mid, cc, counts, start, end, closed_mask, occ_of, item_base):
        n = int(counts.sum())
        owner, pos = _repeat_idx(counts)
        item_id = _ids("i", item_base + np.arange(n), 9)
        author = mid.take(pa.array(owner))
        kind_i = _choice(rng, n, list(KIND_WEIGHTS.values()))
        kind_i[pos == 0] = self.kinds.index("profile")
        # canaries: ~1% of members who have a second item get a public post with a secret
        canary_member = (rng.random(len(counts)) < 0.01) & (counts >= 2)
        canary_row = np.flatnonzero(canary_member[owner] & (pos == 1))
        kind_i[canary_row] = self.kinds.index("post")
        kinds = take(self.kinds, kind_i)
        # visibility
        vis_draw = rng.random(n)
        vis = np.full(n, 2, dtype=np.int64)
        for k, (pub, con, _) in VISIBILITY.items():
            sel = kind_i == self.kinds.index(k)
            vis[sel] = np.where(vis_draw[sel] < pub, 0, np.where(vis_draw[sel] < pub + con, 1, 2))
        vis[canary_row] = 0
        visibility = take(["public", "connections", "private"], vis)
        created = _between(rng, start[owner], end[owner], n)
        # a few items dated after the member closed the account, or after the horizon
        odd = rng.random(n)
        late = (odd < 0.05) & closed_mask[owner]
        created = np.where(late, _between(rng, end[owner], ITEMS_TO + 30 * US_PER_DAY, n), created)
        future = odd > 0.999
        created = np.where(future, _between(rng, ITEMS_TO, _us(2027, 1, 31), n), created)
        profile = pos == 0
        created = np.where(profile, start[owner], created)
        deleted_mask = (rng.random(n) < 0.03) & ~profile
        deleted_mask[canary_row] = False
        deleted = _between(rng, created, np.maximum(created, ITEMS_TO), n) + US_PER_DAY
        group_sensitive = (kind_i == self.kinds.index("group_post")) & (rng.random(n) < 0.2)

        # body text from templates
        member_occ = occ_of[owner]
        si = rng.integers(0, len(self.skills), n)
        # slots as (vocabulary, index per row): strings are built only where a template uses them
        slots = {"title": (self.titles, member_occ), "Title": (self.titles_cap, member_occ),
                 "a_title": (self.titles_a, member_occ),
                 "skill": (self.skills, si), "Skill": (self.skills_cap, si), "tag": (self.tags, si),
                 "skill2": (self.skills, rng.integers(0, len(self.skills), n)),
                 "company": (self.companies, rng.integers(0, len(self.companies), n))}
        all_t, offs = [], [0]
        for k in self.kinds:
            all_t.extend(BODY[k])
            offs.append(len(all_t))
        offs = np.array(offs)
        sizes = offs[kind_i + 1] - offs[kind_i]
        tid = offs[kind_i] + (rng.random(n) * sizes).astype(np.int64)
        body = render(tid, all_t, slots)
        closer = render(rng.integers(0, len(CLOSERS), n), CLOSERS, slots)
        closer = pc.if_else(pa.array(np.isin(kind_i, [self.kinds.index(k) for k in PRIVATE_KINDS])), "", closer)

        author_cc = cc.take(pa.array(owner))
        names_f, names_l = self.pop.name_parts(idx[owner])
        spans: list[tuple[np.ndarray, int, pa.Table]] = []

        p1_rate = np.array([PII_RATE.get(k, PII_DEFAULT)[0] for k in self.kinds])[kind_i]
        p2_rate = np.array([PII_RATE.get(k, PII_DEFAULT)[1] for k in self.kinds])[kind_i]
        m_rate = np.array([MENTION_RATE.get(k, 0.0) for k in self.kinds])[kind_i]
        not_canary = np.ones(n, dtype=bool)
        not_canary[canary_row] = False

        has1 = (rng.random(n) < p1_rate) & not_canary
        t1 = _choice(rng, n, PII_WEIGHTS)
        for k, forced in PII_FORCED.items():
            sel = kind_i == self.kinds.index(k)
            t1[sel] = np.array([PII_TYPES.index(f) for f in forced])[rng.integers(0, len(forced), int(sel.sum()))]
        seg1 = self.pii_segment(rng, t1, has1, author_cc, mid, owner, names_f, names_l)
        has_m = (rng.random(n) < m_rate) & not_canary
        seg_m = self.mention_segment(rng, idx[owner], has_m)
        has2 = (rng.random(n) < p2_rate) & not_canary
        t2 = _choice(rng, n, PII_WEIGHTS)
        seg2 = self.pii_segment(rng, t2, has2, author_cc, mid, owner, names_f, names_l)

        segments = [body, seg1.text, seg_m.text, closer, seg2.text]
        offsets = [np.zeros(n, dtype=np.int64)]
        for s in segments[:-1]:
            offsets.append(offsets[-1] + pc.utf8_length(s).to_numpy().astype(np.int64))
        text = join(*segments)

        # canary text replaces the body of the chosen posts
        k0 = self.canaries_so_far
        nc = len(canary_row)
        perm = (np.arange(k0, k0 + nc) * 2 * 7919 + 104_729) % 900_000 + 100_000
        ref = ((np.arange(k0, k0 + nc) * 2 + 1) * 7919 + 104_729) % 900_000 + 100_000
        self.canaries_so_far += nc
        fmt = rng.integers(0, len(CANARY_FORMATS), nc)
        fmt_ref = rng.integers(0, len(CANARY_FORMATS), nc)
        secret = join(take(CANARY_FORMATS, fmt), num_str(perm))
        secret_ref = join(take(CANARY_FORMATS, fmt_ref), num_str(ref))
        if nc:
            canary_text = join("Note to self: ", secret, ". Do not share this.")
            where = np.full(n, -1, dtype=np.int64)
            where[canary_row] = np.arange(nc)
            ct = canary_text.take(pa.array(np.where(where < 0, 0, where)))
            text = pc.if_else(pa.array(where >= 0), ct, text)

        # mentions list
        has_mention = np.zeros(n, dtype=np.int64)
        has_mention[seg_m.rows] = 1
        mentions = _lists(has_mention, seg_m.owner)

        items = pa.table({
            "item_id": item_id, "member_id": author, "kind": kinds, "visibility": visibility,
            "created_at": _ts(created), "deleted_at": _ts(deleted, ~deleted_mask), "text": text,
            "mentions": mentions, "group_sensitive": pa.array(group_sensitive),
        }, schema=schema.ITEMS)

        for slot, (seg, off) in enumerate(((seg1, offsets[1]), (seg_m, offsets[2]), (seg2, offsets[4]))):
            if seg.rows.size == 0:
                continue
            start_ = off[seg.rows] + seg.offset
            spans.append((seg.rows, slot, pa.table({
                "item_id": item_id.take(pa.array(seg.rows)), "start": pa.array(start_, pa.int64()),
                "end": pa.array(start_ + pc.utf8_length(seg.value).to_numpy().astype(np.int64), pa.int64()),
                "type": take(list(PII_TYPES) + ["HANDLE"], seg.kind), "value": seg.value,
                "member_id": seg.owner,
            }, schema=TRUTH_SPANS)))
        if spans:
            rows_all = np.concatenate([r for r, _, _ in spans])
            slot_all = np.concatenate([np.full(len(r), k) for r, k, _ in spans])
            truth = pa.concat_tables([t for _, _, t in spans]).take(pa.array(np.lexsort((slot_all, rows_all))))
        else:
            truth = TRUTH_SPANS.empty_table()
        can_sel = pa.array(canary_row)
        canaries = {
            "canaries": pa.table({"member_id": author.take(can_sel), "item_id": item_id.take(can_sel),
                                  "canary": secret}, schema=TRUTH_CANARIES),
            "canaries_reference": pa.table({"canary": secret_ref}, schema=TRUTH_CANARIES_REF),
        }
        return items, truth, canaries

    def pii_segment(self, rng, types, has, author_cc, mid, owner, names_f, names_l):
        """The optional PII sentence of each row (see Segment)."""
        n = len(types)
        rows_by_type = {t: np.flatnonzero(has & (types == i)) for i, t in enumerate(PII_TYPES)}
        values, pres, posts, owners, order, kinds = [], [], [], [], [], []
        for ti, (t, rows) in enumerate(rows_by_type.items()):
            k = rows.size
            if k == 0:
                continue
            sel = pa.array(rows)
            own = mid.take(pa.array(owner[rows]))
            if t in ("EMAIL", "URL"):
                first = self.pop.first_lower.take(pa.array(names_f[rows]))
                last = self.pop.last_lower.take(pa.array(names_l[rows]))
            if t == "EMAIL":
                sep = take([".", "_", ""], rng.integers(0, 3, k))
                digits = pc.if_else(pa.array(rng.random(k) < 0.4), num_str(rng.integers(1, 99, k)), "")
                v = join(first, sep, last, digits, "@", take(EMAIL_DOMAINS, rng.integers(0, len(EMAIL_DOMAINS), k)))
            elif t == "PHONE":
                v = phones(rng, author_cc.take(sel))
            elif t == "CREDIT_CARD":
                v = credit_cards(rng, k)
            elif t == "IBAN":
                v = ibans(rng, k)
            elif t == "NATIONAL_ID":
                v = ssns(rng, k)
            elif t == "STREET_ADDRESS":
                v = join(num_str(rng.integers(1, 2400, k)), " ", self.streets.take(pa.array(rng.integers(0, len(self.streets), k))),
                         " ", self.street_types.take(pa.array(rng.integers(0, len(self.street_types), k))), ", ",
                         self.cities_for(rng, author_cc.take(sel)))
            elif t == "URL":
                personal = rng.random(k) < 0.5
                v = pc.if_else(pa.array(personal),
                               join("https://", first, "-", last, ".dev/portfolio"),
                               join("https://careers.", self.company_slugs.take(pa.array(rng.integers(0, len(self.companies), k))),
                                    ".com/jobs/", num_str(rng.integers(1000, 99999, k))))
                own = pc.if_else(pa.array(personal), own, pa.scalar(None, pa.string()))
            elif t == "IP_ADDRESS":
                v = datacenter_ips(rng, k)
                own = pa.nulls(k, pa.string())
            elif t == "PERSON":
                # someone outside the network: a name from the lists, not a member
                fi = rng.integers(0, len(self.pop.first), k)
                li = rng.integers(0, len(self.pop.last), k)
                v = join(self.pop.first.take(pa.array(fi)), " ", self.pop.last.take(pa.array(li)))
                own = pa.nulls(k, pa.string())
            else:  # LOCATION
                v = self.cities_for(rng, author_cc.take(sel))
                own = pa.nulls(k, pa.string())
            phrases = PII_PHRASES[t]
            pi = rng.integers(0, len(phrases), k)
            values.append(v)
            pres.append(take([p[0] for p in phrases], pi))
            posts.append(take([p[1] for p in phrases], pi))
            owners.append(own)
            order.append(rows)
            kinds.append(np.full(k, ti))
        return _assemble(n, order, values, pres, posts, owners, kinds)

    def mention_segment(self, rng, author_idx, has):
        n = len(author_idx)
        target = rng.integers(0, self.n, n)
        # bias a share of mentions towards non-members (known only through mentions)
        want_nm = rng.random(n) < 0.15
        if len(self.non_members):
            target = np.where(want_nm, self.non_members[rng.integers(0, len(self.non_members), n)], target)
        target = np.where(target == author_idx, (target + 1) % self.n, target)
        use_handle = (rng.random(n) < 0.2) & self.pop.is_member(target)
        rows_name = np.flatnonzero(has & ~use_handle)
        rows_handle = np.flatnonzero(has & use_handle)
        values, pres, posts, owners, order, kinds = [], [], [], [], [], []
        for rows, phrases, make, kind in ((rows_name, MENTION_PHRASES, self.pop.display_name, PII_TYPES.index("PERSON")),
                                          (rows_handle, HANDLE_PHRASES, self.pop.handle, len(PII_TYPES))):
            if rows.size == 0:
                continue
            pi = rng.integers(0, len(phrases), rows.size)
            values.append(make(target[rows]))
            pres.append(take([p[0] for p in phrases], pi))
            posts.append(take([p[1] for p in phrases], pi))
            owners.append(self.pop.member_id(target[rows]))
            order.append(rows)
            kinds.append(np.full(rows.size, kind))
        return _assemble(n, order, values, pres, posts, owners, kinds)

    def signins(self, rng, mid, cc, is_member, joined):
        m = len(mid)
        counts = np.where(is_member, rng.poisson(5, m) + 1, 0)
        owner, _ = _repeat_idx(counts)
        n = len(owner)
        ci = self.country_index_for_ip(cc, rng)[owner]
        us_in = pc.is_in(cc, pa.array(["US", "IN"])).to_numpy(zero_copy_only=False)[owner]
        traveller = (rng.random(m) < 0.10)[owner] & us_in
        eu = np.array([self.ip_countries.index(x) for x in ("DE", "FR", "NL", "IE", "ES", "IT")])
        abroad = traveller & (rng.random(n) < 0.4)
        ci = np.where(abroad, eu[rng.integers(0, len(eu), n)], ci)
        vpn_user = (rng.random(m) < 0.04)[owner]
        via_dc = vpn_user & (rng.random(n) < 0.5)
        from consentry.network.synthpii import ips_for
        ip = pc.if_else(pa.array(via_dc), datacenter_ips(rng, n), ips_for(rng, ci))
        at = _between(rng, np.maximum(joined[owner], _us(2023, 6, 1)), ITEMS_TO, n)
        t = pa.table({"member_id": mid.take(pa.array(owner)), "ip": ip, "at": _ts(at)}, schema=schema.SIGNINS)
        return t

    def consent(self, rng, idx, mid, is_member, joined):
        m = len(mid)
        rows_m, rows_p, rows_c, rows_s, rows_t = [], [], [], [], []
        floor = np.where(is_member, joined, _us(2023, 1, 1))

        def add(sel, purpose, choice, source, lo, hi):
            who = np.flatnonzero(sel)
            if who.size == 0:
                return np.zeros(m, dtype=np.int64), who
            lo_ = np.maximum(np.broadcast_to(np.asarray(lo), (m,))[who], floor[who])
            hi_ = np.maximum(np.broadcast_to(np.asarray(hi), (m,))[who], lo_ + 1)
            at = _between(rng, lo_, hi_, who.size)
            rows_m.append(who)
            rows_p.append(np.full(who.size, vocab.PURPOSES.index(purpose)))
            rows_c.append(np.full(who.size, CHOICES.index(choice)))
            rows_s.append(np.full(who.size, SOURCES.index(source)))
            rows_t.append(at)
            full = np.zeros(m, dtype=np.int64)
            full[who] = at
            return full, who

        r = rng.random((12, m))
        mem = is_member
        add(mem & (r[0] < 0.03), "genai_training", "opt_out", "settings", _us(2023, 1, 1), GENAI_SETTING - 1)
        add(mem & (r[1] < 0.08), "genai_training", "opt_out", "settings", GENAI_SETTING, ITEMS_TO)
        t_out, who = add(mem & (r[2] < 0.02), "genai_training", "opt_out", "settings", GENAI_SETTING, _us(2025, 6, 1))
        re_in = np.zeros(m, dtype=bool)
        re_in[who] = True
        add(re_in, "genai_training", "opt_in", "settings", t_out + US_PER_DAY, ITEMS_TO)
        add(mem & (r[3] < 0.10), "genai_training", "opt_in", "settings", ITEMS_FROM, ITEMS_TO)
        add(mem & (r[4] < 0.01), "genai_training", "opt_out", "import", GENAI_SETTING, GENAI_SETTING + 1)
        t_obj, who = add(mem & (r[5] < 0.04), "ml_personalization", "object", "objection_form", ITEMS_FROM, ITEMS_TO)
        withdraw = np.zeros(m, dtype=bool)
        withdraw[who] = r[6][who] < 0.35
        add(withdraw, "ml_personalization", "withdraw_objection", "objection_form", t_obj + US_PER_DAY, ITEMS_TO + US_PER_DAY * 20)
        add(mem & (r[7] < 0.04), "affiliate_sharing", "opt_out", "gpc", _us(2021, 1, 1), ITEMS_TO)
        add(mem & (r[8] < 0.02), "affiliate_sharing", "opt_out", "settings", ITEMS_FROM, ITEMS_TO)
        add(mem & (r[9] < 0.05), "third_party_sharing", "opt_in", "api", ITEMS_FROM, ITEMS_TO)
        add(mem & (r[9] > 0.98), "third_party_sharing", "opt_out", "settings", ITEMS_FROM, ITEMS_TO)
        add(mem & (r[10] < 0.005), "ml_safety", "opt_out", "settings", ITEMS_FROM, ITEMS_TO)
        add(~mem & (r[10] < 0.3), "genai_training", "object", "objection_form", _us(2024, 9, 18), ITEMS_TO)
        add(~mem & (r[11] < 0.3), "ml_personalization", "object", "objection_form", _us(2023, 1, 1), ITEMS_TO)

        who = np.concatenate(rows_m) if rows_m else np.zeros(0, dtype=np.int64)
        at = np.concatenate(rows_t) if rows_t else np.zeros(0, dtype=np.int64)
        order = np.lexsort((at, who))
        who, at = who[order], at[order]
        purpose = np.concatenate(rows_p)[order] if rows_p else who
        choice = np.concatenate(rows_c)[order] if rows_c else who
        source = np.concatenate(rows_s)[order] if rows_s else who
        counts = np.bincount(who, minlength=m)
        _, seq = _repeat_idx(counts)
        version = np.searchsorted(np.array([GENAI_SETTING, LEGIT_INTEREST]), at, side="right")
        no_notice = np.isin(source, [SOURCES.index("gpc"), SOURCES.index("import")])
        events = pa.table({
            "event_id": join("ev-", pc.utf8_slice_codeunits(mid.take(pa.array(who)), 1), "-", num_str(seq, 2)),
            "member_id": mid.take(pa.array(who)),
            "purpose": take(list(vocab.PURPOSES), purpose), "choice": take(CHOICES, choice),
            "source": take(SOURCES, source),
            "notice_version": pc.if_else(pa.array(no_notice), pa.scalar(None, pa.string()),
                                         take([v[0] for v in NOTICES], version)),
            "at": _ts(at),
        }, schema=schema.CONSENT_EVENTS)

        # notices: each version delivered to most members who had joined by then
        n_m, n_v, n_t = [], [], []
        for vi, (_, lo, hi) in enumerate(NOTICES):
            got = is_member & (rng.random(m) < (0.9 if vi == 0 else 0.94))
            who_n = np.flatnonzero(got)
            t = _between(rng, lo, hi, who_n.size)
            t = np.maximum(t, joined[who_n])
            n_m.append(who_n)
            n_v.append(np.full(who_n.size, vi))
            n_t.append(t)
        nm, nv, nt = np.concatenate(n_m), np.concatenate(n_v), np.concatenate(n_t)
        o = np.lexsort((nt, nm))
        notices = pa.table({"member_id": mid.take(pa.array(nm[o])),
                            "notice_version": take([v[0] for v in NOTICES], nv[o]),
                            "delivered_at": _ts(nt[o])}, schema=schema.NOTICES)
        return events, notices

    def requests(self, rng, idx, mid, is_member, counts, item_base):
        m = len(mid)
        r = rng.random(m)
        kind = np.full(m, -1)
        kind[r < 0.01] = 0
        kind[(r >= 0.01) & (r < 0.013)] = 1
        kind[(r >= 0.013) & (r < 0.018)] = 2
        kind[(r >= 0.018) & (r < 0.023)] = 3
        kind[counts == 0] = np.where(kind[counts == 0] == 0, -1, kind[counts == 0])
        who = np.flatnonzero((kind >= 0) & is_member)
        k = kind[who]
        first_item = item_base + np.cumsum(counts) - counts
        n_ids = np.where(k == 0, np.minimum(rng.integers(1, 4, who.size), counts[who]), 0)
        owner, pos = _repeat_idx(n_ids)
        item_numbers = first_item[who][owner] + (rng.random(len(owner)) * counts[who][owner]).astype(np.int64)
        ids = _ids("i", item_numbers, 9)
        return pa.table({
            "request_id": join("rq-", pc.utf8_slice_codeunits(mid.take(pa.array(who)), 1)),
            "member_id": mid.take(pa.array(who)), "kind": take(REQUEST_KINDS, k),
            "item_ids": _lists(n_ids, ids, null_mask=(k != 0)),
            "at": _ts(_between(rng, _us(2024, 1, 1), ITEMS_TO, who.size)),
        }, schema=schema.REQUESTS)

    def interactions(self, rng, mid, is_member, occ_of):
        m = len(mid)
        counts = np.where(is_member, rng.poisson(4, m), 0)
        owner, _ = _repeat_idx(counts)
        n = len(owner)
        matched = rng.random(n) < 0.75
        occ = occ_of[owner]
        lo, hi = self.job_occ_start[occ], self.job_occ_start[occ + 1]
        job = np.where(matched, lo + (rng.random(n) * (hi - lo)).astype(np.int64), rng.integers(0, self.n_jobs, n))
        a = rng.random(n)
        action = np.where(matched, np.where(a < 0.55, 0, np.where(a < 0.8, 1, 2)),
                          np.where(a < 0.85, 0, np.where(a < 0.95, 1, 2)))
        return pa.table({
            "member_id": mid.take(pa.array(owner)), "job_id": _ids("j", job, 7),
            "action": take(["view", "save", "apply"], action),
            "at": _ts(_between(rng, _us(2023, 3, 1), ITEMS_TO, n)),
        }, schema=schema.JOB_INTERACTIONS)


@dataclass
class Segment:
    """One optional sentence per item: its text for every row ('' where absent) and, for
    the rows that have it, the personal value, its offset in the sentence and its owner."""

    text: pa.Array
    rows: np.ndarray
    value: pa.Array
    offset: np.ndarray
    owner: pa.Array
    kind: np.ndarray


def _assemble(n, order, values, pres, posts, owners, kinds) -> Segment:
    """Scatter per-type sentences back to row order; rows without one get ''."""
    if not order:
        empty = pa.nulls(n, pa.string()).fill_null("")
        none = pa.array([], pa.string())
        return Segment(empty, np.zeros(0, dtype=np.int64), none, np.zeros(0, dtype=np.int64), none,
                       np.zeros(0, dtype=np.int64))
    rows = np.concatenate(order)
    srt = pa.array(np.argsort(rows, kind="stable"))
    val = pa.concat_arrays(values).take(srt)
    pre = pa.concat_arrays(pres).take(srt)
    post = pa.concat_arrays(posts).take(srt)
    own = pa.concat_arrays([o.cast(pa.string()) for o in owners]).take(srt)
    kind = np.concatenate(kinds)[srt.to_numpy()]
    rows = rows[srt.to_numpy()]
    seg = join(pre, val, post)
    # full-length text: each row points at its sentence, or at one trailing ''
    where = np.full(n, len(rows), dtype=np.int64)
    where[rows] = np.arange(len(rows))
    full = pa.concat_arrays([seg, pa.array([""], pa.string())]).take(pa.array(where))
    return Segment(full, rows, val, pc.utf8_length(pre).to_numpy().astype(np.int64), own, kind)


CHOICES = [c.value for c in vocab.Choice]
SOURCES = [s.value for s in vocab.Source]
REQUEST_KINDS = [k.value for k in vocab.RequestKind]

TRUTH_SPANS = pa.schema([
    pa.field("item_id", pa.string(), nullable=False), pa.field("start", pa.int64(), nullable=False),
    pa.field("end", pa.int64(), nullable=False), pa.field("type", pa.string(), nullable=False),
    pa.field("value", pa.string(), nullable=False), pa.field("member_id", pa.string()),
])
TRUTH_CANARIES = pa.schema([pa.field("member_id", pa.string()), pa.field("item_id", pa.string()),
                            pa.field("canary", pa.string())])
TRUTH_CANARIES_REF = pa.schema([pa.field("canary", pa.string())])

_DICTIONARY_COLUMNS = {"member_id", "kind", "visibility", "purpose", "choice", "source", "notice_version",
                       "residence_country", "country", "action", "type", "job_id", "title"}
_EXPORT_TABLES = ("members", "items", "signins", "consent_events", "requests", "notices", "jobs",
                  "job_interactions")
_TRUTH_TABLES = {"truth": ("pii_spans", TRUTH_SPANS), "canaries": ("canaries", TRUTH_CANARIES),
                 "canaries_reference": ("canaries_reference", TRUTH_CANARIES_REF)}


def generate(
    out: str | Path,
    members: int = 1_000,
    seed: int = 0,
    *,
    fmt: str = "parquet",
    occupations_csv: str | Path | None = None,
    progress: bool = True,
    chunk_members: int = CHUNK_MEMBERS,
) -> SynthSummary:
    """Write a synthetic export to `out` (tables + `truth/`); same arguments give identical bytes.

    Memory is bounded by `chunk_members` (members generated, written and freed together);
    it is part of the output's identity, so leave it at its default for comparable runs.
    Files an earlier run left in `out` for the export tables and `truth/` are replaced.

    `fmt="jsonl"` writes the export tables as JSON lines (ISO 8601 timestamps) instead of
    Parquet; ground truth is always Parquet.
    """
    if members < 1:
        raise ValueError("members must be at least 1")
    if fmt not in ("parquet", "jsonl"):
        raise ValueError(f"unknown format {fmt!r}: use parquet or jsonl")
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out)
    (out / "truth").mkdir(exist_ok=True)
    occ = load_occupations(occupations_csv)
    gen = _Generator(seed, members, occ)
    writers: dict[str, pq.ParquetWriter] = {}
    counts = {t: 0 for t in _EXPORT_TABLES}
    truth_counts = {v[0]: 0 for v in _TRUTH_TABLES.values()}

    def path_of(name: str) -> Path:
        return out / "truth" / f"{name}.parquet" if name in truth_counts else out / f"{name}.parquet"

    def write(name: str, table: pa.Table) -> None:
        if name not in writers:
            writers[name] = pq.ParquetWriter(
                path_of(name), table.schema, compression="zstd", compression_level=1,
                use_dictionary=[f.name for f in table.schema if f.name in _DICTIONARY_COLUMNS])
        writers[name].write_table(table, row_group_size=1_000_000)

    for name in _EXPORT_TABLES:
        counts[name] = 0
    jobs = gen.jobs()
    write("jobs", jobs)
    counts["jobs"] = jobs.num_rows

    prog = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        prog = Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TextColumn("members"),
                        TextColumn("{task.fields[items]:,} items"), TimeElapsedColumn(),
                        TimeRemainingColumn())
        prog.start()
        task = prog.add_task("members", total=members, items=0)
    try:
        item_base = 0
        for c, lo in enumerate(range(0, members, chunk_members)):
            hi = min(members, lo + chunk_members)
            tables = gen.chunk(c, lo, hi, item_base)
            item_base += tables["items"].num_rows
            for name, table in tables.items():
                if name in _TRUTH_TABLES:
                    tname = _TRUTH_TABLES[name][0]
                    truth_counts[tname] += table.num_rows
                    write(tname, table)
                else:
                    counts[name] += table.num_rows
                    write(name, table)
            if prog:
                prog.update(task, advance=hi - lo, items=item_base)
    finally:
        for w in writers.values():
            w.close()
        if prog:
            prog.stop()
    if fmt == "jsonl":
        for name in _EXPORT_TABLES:
            parquet_to_jsonl(out / f"{name}.parquet", out / f"{name}.jsonl")
            (out / f"{name}.parquet").unlink()
    summary = SynthSummary(out=out, seed=seed, members=members, counts={**counts, **truth_counts},
                           occupations=occ.source)
    meta = {"seed": seed, "members": members, "format": fmt, "counts": summary.counts,
            "occupations": Path(occ.source).name,
            "generator": "consentry.network.synth/1"}
    (out / "truth" / "synth.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    summary.seconds = time.perf_counter() - t0
    summary.bytes_written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return summary


def _remove_previous(out: Path) -> None:
    """Delete the files an earlier run may have left (another format would be read twice)."""
    import shutil

    for name in _EXPORT_TABLES:
        for p in (out / f"{name}.parquet", out / f"{name}.jsonl"):
            p.unlink(missing_ok=True)
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for name, _ in _TRUTH_TABLES.values():
        (out / "truth" / f"{name}.parquet").unlink(missing_ok=True)
    (out / "truth" / "synth.json").unlink(missing_ok=True)


def parquet_to_jsonl(src: Path, dest: Path) -> None:
    """Rewrite a Parquet table as JSON lines with ISO 8601 UTC timestamps (DuckDB does the work)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute("SET enable_progress_bar=false")
        cols = []
        for f in pq.read_schema(src):
            q = '"' + f.name.replace('"', '""') + '"'
            if pa.types.is_timestamp(f.type):
                cols.append(f"strftime({q}, '%Y-%m-%dT%H:%M:%S.%fZ') AS {q}")
            elif pa.types.is_date(f.type):
                cols.append(f"strftime({q}, '%Y-%m-%d') AS {q}")
            else:
                cols.append(q)
        s = str(src).replace("'", "''")
        d = str(dest).replace("'", "''")
        con.execute(f"COPY (SELECT {', '.join(cols)} FROM read_parquet('{s}')) TO '{d}' (FORMAT JSON)")
    finally:
        con.close()


__all__ = ["generate", "SynthSummary", "Population", "TRUTH_SPANS", "TRUTH_CANARIES", "parquet_to_jsonl"]
