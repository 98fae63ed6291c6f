"""The public summary of a model version's training content (EU AI Act Art. 53(1)(d)).

Why generated, and why in the Commission's own shape: the AI Office's *Template for
the Public Summary of Training Content for general-purpose AI models* (July 2025) is
the form a provider must use, so the summary follows its three sections (1 General
information, 2 List of data sources, 3 Data processing aspects) and their numbered
subsections. Every statement is derived from the model registry (which data trained
the version, on which base) and the snapshot's manifest (inputs, pack, counts); where
those records hold nothing, the summary says "not recorded" instead of guessing.

One count: `trained_counts` (the registry's shard lineage: the items and members that
actually trained the version) is what the admin page and this summary both show.
The snapshot holds more rows than were trained on when the trainer held some out for
evaluation, or fewer when an erasure rewrote it later; neither is "the training data".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from consentry.policy.packs import DEFAULT_GROUP, load_pack
from consentry.snapshots import layout

TEMPLATE = ("European Commission, Template for the Public Summary of Training Content for general-purpose "
            "AI models (Article 53(1)(d) of Regulation (EU) 2024/1689), July 2025")
NOT_RECORDED = "not recorded"
# The template's ranges for text (section 1.3).
TOKEN_RANGES = ("Less than 1 billion tokens", "1 billion to 10 trillion tokens", "More than 10 trillion tokens")

# Keys a registry `base` entry may use for the same fact (trainers differ; none is guessed).
_BASE_NAME = ("model", "name", "id", "repo", "hf_id")
_BASE_SOURCE = ("pretraining_data", "pretraining_source", "pretrained_on", "training_data", "corpus", "source")
_BASE_LICENCE = ("licence", "license")


def trained_counts(model: dict[str, Any]) -> dict[str, int]:
    """Training records (items; job interactions for the matcher) and members that trained
    `model`: its registry lineage, the one count shown everywhere."""
    shards = model.get("shards") or []
    items = {i for s in shards for i in s.get("items") or []}
    members = {m for s in shards for m in s.get("members") or []}
    return {"items": len(items), "members": len(members)}


def _trained_ids(model: dict[str, Any]) -> list[str]:
    return sorted({i for s in model.get("shards") or [] for i in s.get("items") or []})


def _data_profile(snapshot_dir: Path, item_ids: list[str]) -> dict[str, Any]:
    """Kinds, time range and text size of the trained items still in the snapshot's data files.

    Refuses (`UnfinishedForget`) while a forget is unfinished on the snapshot: its data
    files may still hold erased items, or disagree with its lineage, and a disclosure
    built from them would not be true."""
    layout.require_whole(snapshot_dir)
    files = sorted((snapshot_dir / "data").glob("shard=*/*.parquet"))
    empty = {"found": 0, "first": None, "last": None, "kinds": {}, "text_bytes": 0}
    if not files or not item_ids:
        return empty
    lst = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    con = duckdb.connect()
    try:
        con.execute("CREATE TEMP TABLE trained(item_id VARCHAR)")
        con.executemany("INSERT INTO trained VALUES (?)", [(i,) for i in item_ids])
        rows = f"(SELECT d.* FROM read_parquet({lst}) d JOIN trained USING (item_id))"
        n, first, last, nbytes = con.execute(
            f"SELECT count(*), min(created_at), max(created_at), coalesce(sum(octet_length(encode(text))), 0) "
            f"FROM {rows}").fetchone()
        kinds = dict(con.execute(f"SELECT kind, count(*) FROM {rows} GROUP BY kind ORDER BY 2 DESC, 1").fetchall())
    finally:
        con.close()
    return {"found": n, "first": first.isoformat() if first else None, "last": last.isoformat() if last else None,
            "kinds": kinds, "text_bytes": int(nbytes)}


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if d.get(k) not in (None, "")), None)


def _base_model(model: dict[str, Any]) -> dict[str, Any] | None:
    """The pretrained model this version builds on, as the registry records it (None: none recorded)."""
    base = model.get("base")
    if isinstance(base, dict) and base:
        return {"name": _first(base, _BASE_NAME), "pretraining_source": _first(base, _BASE_SOURCE),
                "licence": _first(base, _BASE_LICENCE), "contains_member_data": base.get("contains_member_data"),
                "recorded": base}
    encoder = (model.get("config") or {}).get("encoder")
    if encoder:  # a pretrained encoder named only in the trainer's config
        return {"name": encoder, "pretraining_source": None, "licence": None, "contains_member_data": None,
                "recorded": {"encoder": encoder}}
    return None


def _size_range(text_bytes: int) -> str:
    # A byte-level tokenizer emits at most one token per byte, so bytes bound tokens from above.
    return TOKEN_RANGES[0] if text_bytes < 1_000_000_000 else NOT_RECORDED


def training_content_summary(model: dict[str, Any], snapshot: Any) -> dict[str, Any]:
    """The summary as data, in the template's sections; `to_markdown` renders it."""
    m = snapshot.manifest
    counts = m.counts or {}
    by_group: dict[str, dict[str, int]] = counts.get("by_region_group", {}) or {}
    by_reason: dict[str, int] = counts.get("by_reason", {}) or {}
    try:
        pv = load_pack(m.pack).version_at(m.as_of)
    except ValueError:  # a pack no longer shipped (PackError): rules and redaction are then not recorded
        pv = None
    rules: dict[str, str] = {}
    if pv is not None:
        for g in [*pv.groups, DEFAULT_GROUP]:
            r = pv.rule_for(m.purpose, g)
            if r is not None:
                rules[g] = f"{r.rule.value} ({r.legal_basis.value})"
    pol = pv.purposes.get(m.purpose) if pv is not None else None
    trained = trained_counts(model)
    data = _data_profile(snapshot.path, _trained_ids(model))
    base = _base_model(model)
    inputs = sorted((m.inputs.get("watermarks") or {}).keys())
    metrics = model.get("metrics") or {}
    general = {
        "provider": {"name": model.get("provider") or NOT_RECORDED, "contact": model.get("provider_contact") or NOT_RECORDED},
        "model": {"name": model.get("name"), "version": model.get("version"), "trained_at": model.get("created_at"),
                  "status": model.get("status"), "superseded_by": model.get("superseded_by"),
                  "placed_on_market": model.get("placed_on_market") or NOT_RECORDED,
                  "dependencies": ({"base_model": base["name"] or NOT_RECORDED,
                                    "note": "this version adapts the base model; the base's own pretraining data is "
                                            "listed under 2.1"} if base else None)},
        "modalities": ["text"],
        "training_data_size": {"range": _size_range(data["text_bytes"]), "text_bytes": data["text_bytes"],
                               "items": trained["items"], "members": trained["members"]},
        "types_of_content": data["kinds"],
        "latest_data_collection": data["last"], "earliest_item": data["first"],
        "decided_as_of": m.as_of.isoformat(),
    }
    sources = {
        "publicly_available_datasets": {
            "used": bool(base),
            "base_model": base,
            "description": (f"The pretrained base model {base['name'] or '(name not recorded)'}; its pretraining data: "
                            f"{base['pretraining_source'] or 'not named in the model registry'}."
                            if base else "None: no pretrained base model is recorded for this version."),
        },
        "private_third_party_datasets": {
            "used": False, "inputs": inputs,
            "description": "None: the snapshot's inputs are the platform's own export tables "
                           f"({', '.join(inputs) or NOT_RECORDED}); no licensed or third-party dataset is among them.",
        },
        "crawled_and_scraped_data": {
            "used": False,
            "description": "None crawled or scraped by the provider for this version (its inputs are listed under 2.2). "
                           "What the base model's publisher collected for pretraining is the base's, under 2.1.",
        },
        "user_data": {
            "used": True,
            "description": "Content published by members of the platform (its other services, not prompts to this "
                           "model), selected item by item under the policy pack, with personal data redacted.",
            "items": trained["items"], "members": trained["members"],
            "items_in_snapshot": counts.get("included"),
            "held_out_for_evaluation": metrics.get("holdout_texts"),
            # records that are not snapshot items (the job matcher trains on interactions), or
            # items an erasure removed from the snapshot after training
            "trained_records_not_in_snapshot_items": trained["items"] - data["found"],
            "content_kinds": data["kinds"],
            "snapshot": {"ref": snapshot.ref, "content_hash": m.content_hash, "pack": m.pack_ref,
                         "propagation": m.propagation, "engine": m.engine},
            "regions": {"rules": rules, "by_group": by_group,
                        "included_groups": sorted(g for g, c in by_group.items() if c.get("allowed", 0) > 0),
                        "excluded_groups": sorted(g for g, c in by_group.items() if c.get("allowed", 0) == 0)},
        },
        "synthetic_data": {"used": False,
                           "description": "None: no synthetic-data step is recorded in the manifest or the registry."},
        "other_sources": {"used": False, "description": "None recorded."},
    }
    processing = {
        "reservation_of_rights": {
            "description": "Members' choices are the reservation that applies to user data: each item is used only "
                           "where the policy pack's rule for the member's jurisdiction allows it, and opt-outs and "
                           "objections are honoured as the pack states.",
            "opted_out_items_excluded": by_reason.get("opted_out", 0),
            "objected_items_excluded": by_reason.get("objected", 0),
            "no_opt_in_items_excluded": by_reason.get("no_opt_in", 0),
            "region_prohibited_items_excluded": by_reason.get("region_prohibited", 0),
            "gpc_honoured": bool(pol and pol.honour_gpc),
            "objections_honoured": bool(pol and pol.honour_objection),
            "propagation_of_later_choices": m.propagation,
            "erasures_applied_since": len(m.forget_history),
        },
        "removal_of_illegal_content": {
            "description": "No dedicated illegal-content classifier is recorded. Content is limited by the pack: "
                           + (f"kinds never used: {', '.join(k.value for k in pv.excluded_kinds_for(m.purpose)) or 'none'}; "
                              f"visibilities used: {', '.join(v.value for v in pv.visibilities_for(m.purpose))}; "
                              f"members under {pv.min_age} excluded; "
                              f"sensitive groups excluded: {'yes' if pv.exclude_sensitive_groups else 'no'}."
                              if pv else "the pack is no longer available, so its limits are not recorded."),
            "minor_items_excluded": by_reason.get("minor", 0),
            "age_unknown_items_excluded": by_reason.get("age_unknown", 0),
        },
        "other": {
            "redaction": {
                "pii_types": [str(t) for t in pv.redaction.pii_types] if pv else [],
                "mode": pv.redaction.mode if pv else NOT_RECORDED,
                "max_pii_density": pv.redaction.max_pii_density if pv else None,
                "items_dropped_by_redaction": counts.get("dropped_by_redaction", 0),
                # the builder reads the non-member list only from a ledger, whose position it then records
                "non_member_objections_redacted": m.ledger_position is not None,
            },
            "excluded_by_reason": by_reason,
        },
    }
    return {"template": TEMPLATE, "model_version": model.get("version"),
            "general_information": general, "data_sources": sources, "data_processing": processing}


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def to_markdown(s: dict[str, Any]) -> str:
    """The published text: the template's headings, in its order."""
    g, src, pr = s["general_information"], s["data_sources"], s["data_processing"]
    md, size, ud = g["model"], g["training_data_size"], src["user_data"]
    pub, rr, ill, red = (src["publicly_available_datasets"], pr["reservation_of_rights"],
                         pr["removal_of_illegal_content"], pr["other"]["redaction"])
    kinds = ", ".join(f"{k} ({v})" for k, v in g["types_of_content"].items()) or "none"
    rules = "; ".join(f"{grp}: {r}" for grp, r in ud["regions"]["rules"].items()) or NOT_RECORDED
    lines = [
        f"# Public summary of training content: {md['version']}",
        "",
        f"Following the {s['template']}. Generated from the model registry and the training snapshot's manifest.",
        "",
        "## 1. General information",
        "",
        "### 1.1 Provider identification",
        f"- Provider: {g['provider']['name']}; contact: {g['provider']['contact']}.",
        "",
        "### 1.2 Model identification",
        f"- Model: {md['name']}, version {md['version']}, trained {md['trained_at']} (status: {md['status']}"
        + (f", superseded by {md['superseded_by']}" if md.get("superseded_by") else "") + ").",
        f"- Placed on the Union market: {md['placed_on_market']}.",
        f"- Model dependencies: {('base model ' + md['dependencies']['base_model']) if md['dependencies'] else 'none recorded'}.",
        "",
        "### 1.3 Modalities, overall training data size and other characteristics",
        f"- Modalities: {', '.join(g['modalities'])}.",
        (f"- Training data size: {size['range']} ({size['items']} training records from {size['members']} members, "
        f"{size['text_bytes']} bytes of text; the base model's pretraining data is not counted here)."),
        f"- Types of content: {kinds}.",
        (f"- Latest data collection: items created up to {g['latest_data_collection'] or NOT_RECORDED}, "
        f"decided as of {g['decided_as_of']}."),
        "",
        "## 2. List of data sources",
        "",
        "### 2.1 Publicly available datasets",
        f"- {pub['description']}",
    ]
    if pub["base_model"]:
        b = pub["base_model"]
        lines.append(f"- Licence of the base model: {b['licence'] or NOT_RECORDED}; contains member data: "
                     f"{NOT_RECORDED if b['contains_member_data'] is None else _yes(b['contains_member_data'])}.")
        extra = {k: v for k, v in b["recorded"].items() if not isinstance(v, (dict, list))}
        if extra:
            lines.append("- Registry record of the base: " + "; ".join(f"{k}: {v}" for k, v in sorted(extra.items())) + ".")
    lines += [
        "",
        "### 2.2 Private non-publicly available datasets obtained from third parties",
        f"- {src['private_third_party_datasets']['description']}",
        "",
        "### 2.3 Data crawled and scraped from online sources",
        f"- {src['crawled_and_scraped_data']['description']}",
        "",
        "### 2.4 User data",
        f"- {ud['description']}",
        (f"- {ud['items']} training records from {ud['members']} members trained this version (snapshot {ud['snapshot']['ref']}, "
        f"content hash {ud['snapshot']['content_hash']}, policy pack {ud['snapshot']['pack']})."),
        (f"- The snapshot held {ud['items_in_snapshot']} items; held out for evaluation (not trained on): "
        f"{NOT_RECORDED if ud['held_out_for_evaluation'] is None else ud['held_out_for_evaluation']}; "
        f"training records that are not among the snapshot's current items (interactions, or items erased "
        f"since): {ud['trained_records_not_in_snapshot_items']}."),
        (f"- Region groups included: {', '.join(ud['regions']['included_groups']) or 'none'}; excluded: "
        f"{', '.join(ud['regions']['excluded_groups']) or 'none'}. Rules in force: {rules}."),
        "",
        "### 2.5 Synthetic data",
        f"- {src['synthetic_data']['description']}",
        "",
        "### 2.6 Other sources of data",
        f"- {src['other_sources']['description']}",
        "",
        "## 3. Data processing aspects",
        "",
        "### 3.1 Respect of reservation of rights from the text and data mining exception or limitation",
        f"- {rr['description']}",
        (f"- Items excluded after an opt-out: {rr['opted_out_items_excluded']}; after an objection: "
        f"{rr['objected_items_excluded']}; for lack of an opt-in: {rr['no_opt_in_items_excluded']}; "
        f"because the region prohibits this use: {rr['region_prohibited_items_excluded']}."),
        (f"- Global Privacy Control honoured: {_yes(rr['gpc_honoured'])}; objections honoured: "
        f"{_yes(rr['objections_honoured'])}; later choices propagate: {rr['propagation_of_later_choices']}; "
        f"erasures applied since: {rr['erasures_applied_since']}."),
        "",
        "### 3.2 Removal of illegal content",
        f"- {ill['description']}",
        f"- Items of minors excluded: {ill['minor_items_excluded']}; of unknown age: {ill['age_unknown_items_excluded']}.",
        "",
        "### 3.3 Other information",
        f"- Personal data redacted before training ({red['mode']}): {', '.join(red['pii_types']) or NOT_RECORDED}.",
        (f"- Items dropped for too much personal data (density > {red['max_pii_density']}): "
        f"{red['items_dropped_by_redaction']}."),
        "- Names of non-members who objected were redacted: " + _yes(red["non_member_objections_redacted"]) + ".",
        "",
    ]
    return "\n".join(lines)
