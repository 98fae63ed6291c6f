"""EU AI Act Art. 53(1)(d) public summary of the content used to train a model version.

Why generated: every number in it already exists in the model registry (which
snapshot trained the model) and the snapshot's manifest and data files (sources,
time range, counts by reason and region group, pack rules, redaction settings), so
the summary is derived, reproducible and cannot drift from what was trained. It
follows the headings of the AI Office's template: general information, data
sources, time range, regions, opt-outs and objections, minors, redaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from consentry.policy.packs import DEFAULT_GROUP, load_pack


def _data_profile(snapshot_dir: Path) -> dict[str, Any]:
    files = sorted((snapshot_dir / "data").glob("shard=*/*.parquet"))
    if not files:
        return {"items": 0, "members": 0, "first": None, "last": None, "kinds": {}}
    lst = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    con = duckdb.connect()
    try:
        n, m, first, last = con.execute(
            f"SELECT count(*), count(DISTINCT member_id), min(created_at), max(created_at) FROM read_parquet({lst})"
        ).fetchone()
        kinds = dict(con.execute(f"SELECT kind, count(*) FROM read_parquet({lst}) GROUP BY kind ORDER BY 2 DESC").fetchall())
    finally:
        con.close()
    return {"items": n, "members": m, "first": first.isoformat() if first else None,
            "last": last.isoformat() if last else None, "kinds": kinds}


def training_content_summary(model: dict[str, Any], snapshot: Any) -> dict[str, Any]:
    """The summary as data; `to_markdown` renders it for publication."""
    m = snapshot.manifest
    counts = m.counts or {}
    by_group: dict[str, dict[str, int]] = counts.get("by_region_group", {}) or {}
    by_reason: dict[str, int] = counts.get("by_reason", {}) or {}
    included = sorted(g for g, c in by_group.items() if c.get("allowed", 0) > 0)
    excluded = sorted(g for g, c in by_group.items() if c.get("allowed", 0) == 0)
    rules: dict[str, str] = {}
    pv = None
    try:
        pv = load_pack(m.pack).version_at(m.as_of)
    except Exception:  # a pack no longer shipped: the summary still lists the counts
        pv = None
    if pv is not None:
        for g in [*pv.groups, DEFAULT_GROUP]:
            r = pv.rule_for(m.purpose, g)
            if r is not None:
                rules[g] = f"{r.rule.value} ({r.legal_basis.value})"
    data = _data_profile(snapshot.path)
    return {
        "model": {"version": model.get("version"), "name": model.get("name"), "created_at": model.get("created_at"),
                  "status": model.get("status"), "provider": "the platform operating consentry"},
        "snapshot": {"ref": snapshot.ref, "content_hash": m.content_hash, "as_of": m.as_of.isoformat(),
                     "pack": m.pack_ref, "propagation": m.propagation, "engine": m.engine},
        "data_sources": {
            "description": "Content published by members of the platform (user-generated content), "
                           "selected per item by the policy pack; no web-scraped or licensed third-party data.",
            "inputs": sorted((m.inputs.get("watermarks") or {}).keys()),
            "content_kinds": data["kinds"],
            "items": data["items"], "members": data["members"],
            "pretrained_base": model.get("base"),  # the public base the adapters sit on (training.base)
        },
        "time_range": {"first_item": data["first"], "last_item": data["last"]},
        "regions": {"included_groups": included, "excluded_groups": excluded, "rules": rules, "by_group": by_group},
        "opt_out_and_objection": {
            "opted_out_items_excluded": by_reason.get("opted_out", 0),
            "objected_items_excluded": by_reason.get("objected", 0),
            "no_opt_in_items_excluded": by_reason.get("no_opt_in", 0),
            "region_prohibited_items_excluded": by_reason.get("region_prohibited", 0),
            "gpc_honoured": bool(pv and pv.purposes.get(m.purpose) and pv.purposes[m.purpose].honour_gpc),
        },
        "minors": {"min_age": pv.min_age if pv else None,
                   "unknown_age_excluded": pv.exclude_unknown_age if pv else None,
                   "minor_items_excluded": by_reason.get("minor", 0),
                   "age_unknown_items_excluded": by_reason.get("age_unknown", 0)},
        "redaction": {"pii_types": [str(t) for t in pv.redaction.pii_types] if pv else [],
                      "mode": pv.redaction.mode if pv else None,
                      "max_pii_density": pv.redaction.max_pii_density if pv else None,
                      "items_dropped_by_redaction": counts.get("dropped_by_redaction", 0),
                      "non_member_objections_redacted": True},
        "excluded_by_reason": by_reason,
        "erasures_applied": len(m.forget_history),
    }


def to_markdown(s: dict[str, Any]) -> str:
    """The published text (Markdown)."""
    md = s["model"]
    src, tr, rg, oo, mi, rd = (s["data_sources"], s["time_range"], s["regions"], s["opt_out_and_objection"],
                               s["minors"], s["redaction"])
    kinds = ", ".join(f"{k} ({v})" for k, v in src["content_kinds"].items()) or "none"
    rules = "; ".join(f"{g}: {r}" for g, r in rg["rules"].items()) or "unknown"
    return "\n".join([
        f"# Training content summary: {md['version']}",
        "",
        "Summary of the content used for training (EU AI Act, Art. 53(1)(d)).",
        "",
        "## 1. General information",
        f"- Model: {md['name']} version {md['version']}, trained {md['created_at']} (status: {md['status']}).",
        f"- Training data snapshot: {s['snapshot']['ref']} (content hash {s['snapshot']['content_hash']}), "
        f"decided as of {s['snapshot']['as_of']} under policy pack {s['snapshot']['pack']}.",
        "",
        "## 2. Data sources",
        f"- {src['description']}",
        f"- {src['items']} items from {src['members']} members. Kinds: {kinds}.",
        f"- Input tables: {', '.join(src['inputs']) or 'n/a'}.",
        *([f"- Pretrained base (public text, no member data, never retrained by a forget): {b['model']}, file "
           f"{b['file']} (sha256 {b['sha256']}), licence {b['licence']}, from {b['source']}."]
          if (b := src.get("pretrained_base")) and b.get("sha256") else []),
        "",
        "## 3. Time range",
        f"- Items created from {tr['first_item']} to {tr['last_item']}.",
        "",
        "## 4. Regions",
        f"- Included region groups: {', '.join(rg['included_groups']) or 'none'}.",
        f"- Excluded region groups: {', '.join(rg['excluded_groups']) or 'none'}.",
        f"- Rules in force: {rules}.",
        f"- Items excluded because their region prohibits this use: {oo['region_prohibited_items_excluded']}.",
        "",
        "## 5. Opt-outs and objections",
        f"- Items excluded after an opt-out: {oo['opted_out_items_excluded']}; after an objection: "
        f"{oo['objected_items_excluded']}; for lack of an opt-in: {oo['no_opt_in_items_excluded']}.",
        f"- Global Privacy Control honoured for this purpose: {'yes' if oo['gpc_honoured'] else 'no'}.",
        f"- Propagation of later opt-outs: {s['snapshot']['propagation']}; erasures applied since: {s['erasures_applied']}.",
        "",
        "## 6. Minors",
        f"- Minimum age {mi['min_age']}; items of minors excluded: {mi['minor_items_excluded']}; "
        f"unknown age excluded: {mi['unknown_age_excluded']} ({mi['age_unknown_items_excluded']} items).",
        "",
        "## 7. Personal data in the content",
        f"- Redacted before training ({rd['mode']}): {', '.join(rd['pii_types'])}.",
        f"- Items dropped for too much personal data (density > {rd['max_pii_density']}): "
        f"{rd['items_dropped_by_redaction']}.",
        "- Names of non-members who objected are always redacted.",
        "",
    ])
