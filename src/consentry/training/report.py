"""The two entry points the demo and `forget` call: train everything, verify a forgetting.

`verify_forgetting` gathers its evidence from the network export's ground truth
(`truth/canaries.parquet`, `truth/canaries_reference.parquet`, `truth/pii_spans.parquet`,
`members`, `items`) when present, and says which parts it skipped and why when not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from consentry.settings import Settings
from consentry.training import verify
from consentry.training.data import SnapshotRef, read_shards
from consentry.training.pipeline import load_assistant, train_version


def train_all(
    snapshot_dir: Path | str,
    settings: Settings | None = None,
    *,
    matcher_snapshot_dir: Path | str | None = None,
    assistant_config: dict | None = None,
    matcher_config: dict | None = None,
    n_slices: int = 4,
    progress: bool = True,
    workers: int = 2,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Train the writing assistant and (when the snapshot has interactions) the job matcher.

    Shards train in `workers` processes (one thread each; same weights as serial).
    """
    settings = settings or Settings()
    out: dict[str, Any] = {}
    a = train_version("assistant", snapshot_dir, settings.models, config=assistant_config, n_slices=n_slices, progress=progress,
                        workers=workers, allow_empty=allow_empty)
    out["assistant"] = _brief(a)
    msnap = Path(matcher_snapshot_dir or snapshot_dir)
    if (msnap / "interactions.parquet").exists() and (msnap / "jobs.parquet").exists():
        m = train_version("matcher", msnap, settings.models, config=matcher_config, n_slices=n_slices, progress=progress,
                          trainer_kw={"cache_dir": Path(settings.models) / "embeddings"})
        out["matcher"] = _brief(m)
    else:
        out["matcher"] = {"skipped": f"{msnap} has no interactions.parquet/jobs.parquet"}
    return out


def _brief(v: dict) -> dict:
    return {"version": v["version"], "snapshot": f"{v['snapshot']['purpose']}/{v['snapshot']['version']}",
            "shards": len(v["shards"]), "metrics": v["metrics"], "timings": v["timings"]}


def _read_table(network: Path, name: str) -> pa.Table | None:
    for f in (network / f"{name}.parquet", network / "truth" / f"{name}.parquet"):
        if f.exists():
            return pq.read_table(f)
    f = network / f"{name}.jsonl"
    if f.exists():
        import pyarrow.json as pj

        return pj.read_json(f)
    return None


def verify_forgetting(
    old: dict,
    new: dict,
    members: list[str],
    settings: Settings | None = None,
    *,
    samples: int = 300,
    drafts: int = 8,
    max_texts: int = 200,
    max_new: int = 60,
) -> dict[str, Any]:
    """Canary exposure and membership inference before vs after; a leakage scan of the new model's drafts
    before and after the output filter (the old model's checkpoints holding the removed data are purged)."""
    settings = settings or Settings()
    network = Path(settings.network)
    before = load_assistant(settings.models, old["version"])
    after = load_assistant(settings.models, new["version"])
    forgotten = set(members)
    trained_items = {i for s in old["shards"] for i, m in zip(s["items"], s["item_members"]) if m in forgotten}
    rep: dict[str, Any] = {"members": len(forgotten), "old_version": old["version"], "new_version": new["version"]}

    items = _read_table(network, "items")
    texts = dict(zip(items["item_id"].to_pylist(), items["text"].to_pylist())) if items is not None else {}

    # canaries
    can = _read_table(network, "canaries")
    ref = _read_table(network, "canaries_reference")
    if can is None or ref is None:
        rep["canaries"] = {"skipped": f"no truth/canaries.parquet under {network}"}
    else:
        rows = [r for r in can.to_pylist() if r["member_id"] in forgotten and r["item_id"] in trained_items]
        targets = [r["canary"] for r in rows]
        refs = ref["canary"].to_pylist()[: max(len(targets), 8)]
        ctx = "Note to self: "
        for r in rows:
            t = texts.get(r["item_id"]) or ""
            if r["canary"] in t:
                ctx = t[: t.index(r["canary"])]
                break
        if not targets:
            rep["canaries"] = {"skipped": "no forgotten member's canary was in the model's training data"}
        else:
            b = verify.canary_report(before, targets, refs, context=ctx, samples=samples)
            a = verify.canary_report(after, targets, refs, context=ctx, samples=samples)
            rep["canaries"] = {"before": b.summary(), "after": a.summary(), "context": ctx}

    # membership inference: likelihood ratio to the base, forgotten texts vs never-trained held-out texts
    from consentry.training.assistant import AssistantConfig, AssistantTrainer

    tr = AssistantTrainer(AssistantConfig.from_dict(old["config"]))
    snap = SnapshotRef.from_path(new["snapshot"]["path"])
    held = [i for t in read_shards(snap.path).values() for i in t["item_id"].to_pylist() if tr.is_holdout(i)]
    mem_texts = [texts[i] for i in sorted(trained_items) if texts.get(i)][:max_texts]
    non_texts = [texts[i] for i in held if texts.get(i)][:max_texts]
    if not texts:
        rep["membership_inference"] = {"skipped": f"no items table under {network}"}
    else:
        b, a = verify.mia_auc(before, mem_texts, non_texts), verify.mia_auc(after, mem_texts, non_texts)
        rep["membership_inference"] = {
            "member_texts": len(mem_texts), "never_seen_texts": len(non_texts), "score": "log-likelihood ratio to the base",
            "before": b, "after": a, **verify.mia_verdict(b, a),
        }

    # leakage scan: names / emails / phones of people who must never come out, before and after the output filter
    from consentry.training.safety import draft_redactor, filter_draft

    forbidden = _forbidden_strings(network, forgotten, {m for s in new["shards"] for m in s["members"]})
    red = draft_redactor(settings)
    prompts = verify.DEFAULT_PROMPTS
    raw = [after.generate(prompts[i % len(prompts)], max_new=max_new, seed=i)[len(prompts[i % len(prompts)]):]
           for i in range(drafts)]
    la = verify.leakage_scan(after, forbidden, texts=raw)
    lf = verify.leakage_scan(after, forbidden, texts=raw, output_filter=lambda t: filter_draft(red, "", t))
    rep["leakage"] = {
        "forbidden_strings": len(forbidden), "drafts": drafts, "detector": la.detector,
        "unfiltered": {"forbidden_hits": la.forbidden_total, "pii_spans": la.pii_spans},
        "filtered": {"forbidden_hits": lf.forbidden_total, "pii_spans": lf.pii_spans, "hits": lf.forbidden_hits},
    }
    return rep


def _forbidden_strings(network: Path, forgotten: set[str], in_model: set[str]) -> list[str]:
    """Full names, emails and phones of non-members, excluded and forgotten members."""
    mem = _read_table(network, "members")
    out: set[str] = set()
    banned = set(forgotten)
    if mem is not None:
        for r in mem.select([c for c in ("member_id", "display_name", "is_member") if c in mem.column_names]).to_pylist():
            if r.get("is_member") is False or r["member_id"] not in in_model or r["member_id"] in forgotten:
                banned.add(r["member_id"])
                name = r.get("display_name") or ""
                if " " in name.strip():
                    out.add(name.strip())
    spans = _read_table(network, "pii_spans")
    if spans is not None and "member_id" in spans.column_names:
        for r in spans.select(["member_id", "type", "value"]).to_pylist():
            if r["member_id"] in banned and r["type"] in ("EMAIL", "PHONE") and r["value"]:
                out.add(r["value"])
    return sorted(out)
