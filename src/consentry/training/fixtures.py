"""Write a snapshot directory straight from Arrow tables, and a small synthetic corpus.

Why here and not in tests: tests, the benchmark and a demo without the snapshot
builder all need a snapshot in the documented layout. This writes exactly that
layout (DESIGN.md) and nothing more, so it doubles as an executable statement of
what training expects to read.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")


def shard_of(member_id: str, shards: int) -> int:
    return int(hashlib.sha256(member_id.encode()).hexdigest()[:8], 16) % shards


def write_snapshot(
    root: Path,
    purpose: str,
    version: str,
    items: list[dict],
    *,
    shards: int = 4,
    interactions: list[dict] | None = None,
    jobs: list[dict] | None = None,
) -> Path:
    """items: dicts with item_id, member_id, kind, created_at (datetime), text."""
    snap = Path(root) / purpose / version
    by_shard: dict[int, list[dict]] = {s: [] for s in range(shards)}
    lineage = []
    for it in items:
        h = hashlib.sha256(it["text"].encode()).hexdigest()
        s = shard_of(it["member_id"], shards)
        by_shard[s].append({**it, "content_hash": h})
        lineage.append({"item_id": it["item_id"], "member_id": it["member_id"], "shard": s, "content_hash": h})
    for s, rows in by_shard.items():
        d = snap / "data" / f"shard={s:02d}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(_items_table(rows), d / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(lineage) if lineage else pa.table({"item_id": []}), snap / "lineage.parquet")
    if interactions is not None:
        pq.write_table(
            pa.Table.from_pylist(
                interactions,
                schema=pa.schema([("member_id", pa.string()), ("job_id", pa.string()), ("action", pa.string()), ("at", TS)]),
            ),
            snap / "interactions.parquet",
        )
    if jobs is not None:
        pq.write_table(
            pa.Table.from_pylist(
                jobs,
                schema=pa.schema(
                    [("job_id", pa.string()), ("title", pa.string()), ("text", pa.string()), ("country", pa.string()), ("posted_at", TS)]
                ),
            ),
            snap / "jobs.parquet",
        )
    man = {"purpose": purpose, "version": version, "shards": shards, "content_hash": hashlib.sha256(
        "".join(sorted(x["content_hash"] for x in lineage)).encode()).hexdigest()}
    (snap / "manifest.json").write_text(json.dumps(man))
    return snap


def rewrite_without(snapshot: Path, member_ids: set[str]) -> list[int]:
    """Drop members' rows from a fixture snapshot (what the snapshot engineer's erasure does)."""
    touched = []
    for d in sorted((Path(snapshot) / "data").glob("shard=*")):
        for f in d.glob("*.parquet"):
            t = pq.read_table(f)
            keep = [m not in member_ids for m in t["member_id"].to_pylist()]
            if not all(keep):
                pq.write_table(t.filter(pa.array(keep)), f)
                touched.append(int(d.name.split("=")[1]))
    for name in ("interactions", "lineage"):
        f = Path(snapshot) / f"{name}.parquet"
        if f.exists():
            t = pq.read_table(f)
            if "member_id" in t.column_names:
                pq.write_table(t.filter(pa.array([m not in member_ids for m in t["member_id"].to_pylist()])), f)
    return sorted(set(touched))


def _items_table(rows: list[dict]) -> pa.Table:
    schema = pa.schema(
        [("item_id", pa.string()), ("member_id", pa.string()), ("kind", pa.string()), ("created_at", TS),
         ("text", pa.string()), ("content_hash", pa.string())]
    )
    return pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema)


FIELDS = {
    "data": (["data engineer", "analytics engineer", "data scientist"], ["SQL", "Spark", "Airflow", "dbt", "Python"]),
    "web": (["frontend developer", "backend engineer", "web developer"], ["React", "TypeScript", "Django", "APIs", "CSS"]),
    "sales": (["account executive", "sales manager", "business developer"], ["negotiation", "CRM", "pipeline", "prospecting", "deals"]),
    "care": (["nurse", "care coordinator", "physiotherapist"], ["patients", "clinics", "rehabilitation", "wards", "triage"]),
    "design": (["product designer", "UX researcher", "graphic designer"], ["Figma", "user research", "typography", "prototypes", "branding"]),
}
CITIES = ["Austin", "Denver", "Toronto", "Sydney", "Chicago", "Boston", "Seattle", "Atlanta"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]
POST_TEMPLATES = [
    "Excited to share that I started a new job as a {role} at {company}! Looking forward to working on {skill}.",
    "Three lessons from my first year as a {role}: learn {skill}, ask questions, and share what you know.",
    "We are hiring a {role} in {city}. If you love {skill} and {skill2}, send me a message.",
    "Just finished a course on {skill}. Every {role} should try it, it changed how I work.",
    "Proud of my team at {company} for shipping our {skill} project this week. Great work everyone.",
    "After five years in {city} I am moving on. Grateful for everything I learned as a {role} at {company}.",
]


def synthetic_corpus(members: int = 200, posts_per_member: int = 4, jobs: int = 60, seed: int = 0) -> dict:
    """Members in five fields writing templated posts, job posts and field-driven interactions.

    Returns {"items": [...], "jobs": [...], "interactions": [...], "fields": {member: field}}.
    """
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    items, inter, member_field = [], [], {}
    job_rows = []
    fields = list(FIELDS)
    for j in range(jobs):
        f = fields[j % len(fields)]
        roles, skills = FIELDS[f]
        role = rng.choice(roles)
        job_rows.append({
            "job_id": f"j{j:04d}", "title": f"{role.title()} ({rng.choice(CITIES)})",
            "text": f"{rng.choice(COMPANIES)} is looking for a {role} with {rng.choice(skills)} and {rng.choice(skills)} experience.",
            "country": "US", "posted_at": t0 + timedelta(days=j),
        })
    for m in range(members):
        mid = f"m{m:05d}"
        f = rng.choice(fields)
        member_field[mid] = f
        roles, skills = FIELDS[f]
        role = rng.choice(roles)
        items.append({"item_id": f"{mid}-p", "member_id": mid, "kind": "profile", "created_at": t0 + timedelta(days=rng.randrange(300), minutes=m),
                      "text": f"{role.title()} in {rng.choice(CITIES)}. I work with {rng.choice(skills)} and {rng.choice(skills)}."})
        for k in range(posts_per_member):
            text = rng.choice(POST_TEMPLATES).format(role=role, company=rng.choice(COMPANIES), skill=rng.choice(skills),
                                                     skill2=rng.choice(skills), city=rng.choice(CITIES))
            items.append({"item_id": f"{mid}-{k}", "member_id": mid, "kind": "post",
                          "created_at": t0 + timedelta(days=rng.randrange(300), minutes=rng.randrange(1440)), "text": text})
        own = [j for j in job_rows if j["job_id"] and fields[int(j["job_id"][1:]) % len(fields)] == f]
        for k in range(rng.randint(2, 6)):
            j = rng.choice(own) if rng.random() < 0.85 else rng.choice(job_rows)
            inter.append({"member_id": mid, "job_id": j["job_id"], "action": rng.choice(["view", "save", "apply"]),
                          "at": t0 + timedelta(days=100 + rng.randrange(200), minutes=k)})
    return {"items": items, "jobs": job_rows, "interactions": inter, "fields": member_field}
