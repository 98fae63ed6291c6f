"""The main job behind `make demo`: the whole system on the embedded default, end to end.

It runs every stage a platform would, in order, on a deterministic synthetic network,
so that a new user sees in one command what consentry decides, removes, trains and
forgets, and why: decisions under both shipped packs at several dates, a redacted
snapshot per pack, erasures and opt-outs honoured in the live snapshots, sharded
models trained and made to forget, and the privacy center's sign-in link.

State lives in the settings' home (default `./.consentry`). The demo owns that home
only when it created it: it refuses to reset a home that holds anything else.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from consentry.settings import Settings

PACKS = ("linkedin-2024", "strict")
DATES = ("2024-06-01", "2025-01-01", "2025-12-01")
#: the models train under the retroactive pack, where an opt-out reaches trained models too
TRAIN_PACK = "strict"
MARKER = ".consentry-demo"
#: kept across demo runs: the network (when generated with the same options) and the center's signing key
KEEP = ("network", "center_secret", MARKER)


class DemoError(RuntimeError):
    """The demo cannot run here (for example: its home holds someone else's state)."""


@dataclass
class DemoOptions:
    members: int = 10_000
    seed: int = 7
    as_of: str = "2025-12-01"
    erasures: int = 3
    opt_outs: int = 3
    forget_members: int = 5
    train: bool = True
    full: bool = False  # the larger configuration (`consentry demo --full`)
    assistant_config: dict | None = None  # overrides of AssistantConfig (tests use a tiny model)
    matcher_config: dict | None = None  # overrides of the matcher's config (e.g. {"encoder": "hashed-bow"})
    dates: Sequence[str] = field(default_factory=lambda: (*DATES, dt.date.today().isoformat()))


def prepare_home(settings: Settings, opts: DemoOptions) -> bool:
    """Reset the demo's own state; keep the network when it was generated with the same options.

    Returns True when the network must be (re)generated.
    """
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    marker = home / MARKER
    if not marker.exists() and any(home.iterdir()):
        raise DemoError(f"{home} holds state the demo did not create "
                        f"({', '.join(sorted(p.name for p in home.iterdir()))}); "
                        "point CONSENTRY_HOME at an empty or new directory for the demo")
    wanted = {"members": opts.members, "seed": opts.seed}
    previous = json.loads(marker.read_text()) if marker.exists() else {}
    for p in home.iterdir():  # the demo's own state from an earlier run
        if p.name not in KEEP:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    regenerate = previous.get("network") != wanted or not (Path(settings.network) / "members.parquet").exists()
    marker.write_text(json.dumps({"network": wanted}))
    return regenerate


def eligibility_table(network: Path, settings: Settings, pack: str, dates: Sequence[str], purpose: str = "genai_training") -> Table:
    """Eligible share of items by region group, per date, and the reasons items were excluded."""
    import duckdb

    from consentry.network import reader, views
    from consentry.policy.decide import decide
    from consentry.policy.packs import load_pack

    p = load_pack(pack)
    staged = reader.stage_cached(network, Path(settings.home) / "staged", progress=False)
    con = duckdb.connect()
    views.register(con, staged.dest)
    shares: dict[str, dict[str, str]] = {}
    reasons: dict[str, dict[str, int]] = {}
    totals: dict[str, str] = {}
    for d in dates:
        con.execute(f"CREATE OR REPLACE TEMP TABLE dec AS {decide(con, p, purpose, d).sql_query()}")
        for g, n, ok in con.execute("SELECT coalesce(region_group, '(unknown)'), count(*), count_if(allowed) "
                                    "FROM dec GROUP BY 1 ORDER BY 1").fetchall():
            shares.setdefault(g, {})[d] = f"{ok / n:.0%}"
        n, ok = con.execute("SELECT count(*), count_if(allowed) FROM dec").fetchall()[0]
        totals[d] = f"{ok / n:.0%}" if n else "-"
        for r, c in con.execute("SELECT r, count(*) FROM (SELECT unnest(reasons) AS r FROM dec) GROUP BY r").fetchall():
            reasons.setdefault(r, {})[d] = c
    con.close()
    t = Table(title=f"{purpose} under {p.name}: share of items eligible by region group, "
                    "then items excluded by reason (an item can have several)", title_justify="left")
    t.add_column("")
    for d in dates:
        t.add_column(d, justify="right")
    for g in sorted(shares):
        t.add_row(g, *(shares[g].get(d, "-") for d in dates))
    t.add_row("[b]all items[/b]", *(f"[b]{totals[d]}[/b]" for d in dates), end_section=True)
    for r in sorted(reasons, key=lambda r: -max(reasons[r].values())):
        t.add_row(f"[dim]{r}[/dim]", *(f"{reasons[r].get(d, 0):,}" for d in dates))
    return t


#: the assistant's demo sizes: quick (`make demo`, about 8 minutes on 2 cores) and --full
QUICK_ASSISTANT = {"max_items_per_shard": 8, "epochs_per_stage": 1, "eval_texts": 32}
FULL_ASSISTANT = {"max_items_per_shard": 64, "epochs_per_stage": 2, "eval_texts": 64}
QUICK_SLICES, FULL_SLICES = 2, 4
DRAFT_PROMPTS = ("Excited to share that I started a new job as a data engineer",
                 "Three lessons I learned from leading my first team",
                 "We are hiring a nurse in Denver")
TOKENS_PER_SECOND = 50  # LoRA training on 2 uncontended cores (benchmarks/unlearning.py), for the estimate


def _canary_members(network: Path, trained: dict, n: int) -> list[str]:
    """Members whose planted canary the live assistant trained on (forgetting them is measurable), topped up
    with other members it trained on."""
    f = network / "truth" / "canaries.parquet"
    held = {i: m for s in trained["shards"] for i, m in zip(s["items"], s["item_members"])}
    picked: list[str] = []
    if f.exists():
        for r in sorted(pq.read_table(f).to_pylist(), key=lambda r: r["member_id"]):
            if r["item_id"] in held and r["member_id"] not in picked:
                picked.append(r["member_id"])
    if len(picked) < n:
        picked += [m for m in sorted(set(held.values())) if m not in picked]
    return picked[:n]


def _smallest_shard(snapshot: Path, cfg: dict) -> int:
    from consentry.training.assistant import AssistantConfig, AssistantTrainer

    sizes = [len(r) for r in AssistantTrainer(AssistantConfig.from_dict(cfg)).prepare(snapshot).values()]
    return max(1, min((n for n in sizes if n), default=1))


def estimate_minutes(snapshot: Path, cfg: dict, n_slices: int, workers: int = 2) -> float:
    """Training minutes for the assistant, from item counts and the measured training rate."""
    from consentry.training.assistant import AssistantConfig, AssistantTrainer

    tr = AssistantTrainer(AssistantConfig.from_dict(cfg))
    tokens = 0
    for recs in tr.prepare(snapshot).values():
        n = len(recs)
        per_stage = [min(n, -(-n // n_slices) * (r + 1)) for r in range(n_slices)]
        tokens += sum(tr.steps(k) * tr.cfg.batch_size for k in per_stage) * 60  # ~60 tokens per example
    return round(tokens / TOKENS_PER_SECOND / workers / 60 + 1.5, 1)  # + loading the base, evaluation


def _model_lines(summaries: list[dict]) -> Table:
    t = Table(title="Forgetting in the models (SISA: only the affected shards retrain)", title_justify="left")
    for c in ("model", "members", "shards", "retrain s", "full s", "speed-up", "before -> after"):
        t.add_column(c, justify="left" if c in ("model", "before -> after") else "right")
    for s in summaries:
        mb, ma = s.get("metrics_before") or {}, s.get("metrics_after") or {}
        key, short = ("perplexity", "ppl") if "perplexity" in mb else ("recall@10", "R@10")
        t.add_row(s["model"], str(s["members"]), f"{len(s['shards_retrained'] or [])}/{s['shards_total']}",
                  _seconds(s["retrain_seconds"]), _seconds(s["full_train_seconds"]),
                  f"{s['speedup']}x" if s["speedup"] else "-", f"{short} {mb.get(key)} -> {ma.get(key)}")
    return t


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _verification_lines(v: dict | None) -> list[str]:
    if not v:
        return ["verification: none recorded"]
    if "error" in v:
        return [f"verification failed to run: {v['error']}"]
    out = []
    c = v.get("canaries", {})
    if "skipped" in c:
        out.append(f"canaries: skipped ({c['skipped']})")
    else:
        b, a = c["before"], c["after"]
        out.append(f"canary exposure (bits; never-trained canaries in brackets): before {b['mean_exposure']} "
                   f"[{b['reference_mean_exposure']}], after {a['mean_exposure']} [{a['reference_mean_exposure']}]")
    m = v.get("membership_inference", {})
    if "skipped" in m:
        out.append(f"membership inference: skipped ({m['skipped']})")
    elif m.get("before") and m.get("after"):
        b, a = m["before"], m["after"]
        out.append(f"membership inference (likelihood ratio to the base, {m['member_texts']} forgotten vs "
                   f"{m['never_seen_texts']} never-trained texts): AUC before {b['auc']:.3f} {b['ci95']}, "
                   f"after {a['auc']:.3f} {a['ci95']}: {m['verdict']}")
    lk = v.get("leakage", {})
    if lk:
        out.append(f"leakage scan over {lk['drafts']} drafts of the new model for {lk['forbidden_strings']} forbidden "
                   f"names/emails/phones: {lk['unfiltered']['forbidden_hits']} hits unfiltered, "
                   f"{lk['filtered']['forbidden_hits']} after the output filter")
    return out


def run(settings: Settings | None = None, opts: DemoOptions | None = None, console: Console | None = None) -> dict[str, Any]:
    """Run the main job; prints as it goes and returns the figures it printed."""
    from consentry.ledger.store import Ledger
    from consentry.network import synth
    from consentry.snapshots.demo import run_demo

    settings = settings or Settings()
    opts = opts or DemoOptions()
    console = console or Console()
    network = Path(settings.network)
    out: dict[str, Any] = {}

    console.rule("1. A synthetic professional network and its consent ledger")
    if prepare_home(settings, opts):
        s = synth.generate(network, members=opts.members, seed=opts.seed, progress=True)
        console.print(f"generated {s.counts.get('members', 0):,} people and {s.counts.get('items', 0):,} items "
                      f"into {network} in {s.seconds:.1f} s")
    else:
        console.print(f"reusing the network in {network} (same members and seed)")
    ledger = Ledger(settings.ledger).create()
    imported = ledger.import_export(network, progress=True)
    console.print("ledger " + ", ".join(f"{k}: {imported[k]['inserted']:,}" for k in ("members", "consent_events", "requests", "notices"))
                  + f" rows at {settings.ledger}")

    console.rule("2. Who may train generative AI, by region, pack and date")
    for pack in PACKS:
        console.print(eligibility_table(network, settings, pack, opts.dates))

    console.rule(f"3. Redacted training snapshots as of {opts.as_of}, erasures and opt-outs")
    report = run_demo(network, settings, ledger, packs=PACKS, as_of=opts.as_of, erasures=opts.erasures, opt_outs=opts.opt_outs)
    console.print("[dim]`forget --pending` processes every ledger event not processed before: on a new ledger "
                  "that is the whole imported consent history, so later opt-outs count too[/dim]")
    console.print(report.text())
    out["snapshots"] = {ref: {"included": inc, "content_hash": h} for ref, (inc, h) in report.after.items()}
    out["verify_erasure_ok"] = bool(getattr(report.verify, "ok", False))

    if opts.train:
        genai = next(m for m in report.built if m.pack_ref.startswith(TRAIN_PACK + "@"))
        _train_and_forget(settings, opts, console, ledger, network, genai, out)

    console.rule("5. The privacy center")
    member = sorted(report.erased_members + report.opted_out_members)[-1] if report.opted_out_members else None
    out["member_link"] = _member_link(settings, member)
    console.print("start it with `consentry serve` (or `make demo SERVE=1`), then open:")
    console.print(f"  member sign-in (one-time link for {member}): {out['member_link']}")
    from consentry.center.config import CenterSettings

    console.print(f"  admin: {CenterSettings().public_url.rstrip('/')}/admin")
    ledger.close()
    return out


def _train_and_forget(settings: Settings, opts: DemoOptions, console: Console, ledger: Any, network: Path,
                      genai_manifest: Any, out: dict[str, Any]) -> None:
    """Train both models, erase members with planted canaries, show the retraining cost and evidence."""
    from consentry.forgetting.models import summarize
    from consentry.forgetting.run import forget
    from consentry.snapshots import catalog
    from consentry.snapshots.build import build_snapshot
    from consentry.training.report import train_all

    console.rule(f"4. Training in shards under {TRAIN_PACK}, then forgetting members")
    root = Path(settings.snapshots)
    genai = catalog.load(root, genai_manifest.purpose, genai_manifest.version)
    ml = build_snapshot(network, TRAIN_PACK, "ml_personalization", opts.as_of, root, ledger=ledger)
    ml_dir = catalog.load(root, ml.purpose, ml.version).path
    cfg = {**(FULL_ASSISTANT if opts.full else QUICK_ASSISTANT), **(opts.assistant_config or {})}
    slices = min(FULL_SLICES if opts.full else QUICK_SLICES, _smallest_shard(genai.path, cfg))  # a small network
    console.print(f"writing assistant: LoRA adapters on SmolLM2-135M-Instruct, up to {cfg.get('max_items_per_shard') or 'all'} "
                  f"items per shard, {slices} slices; training should take about "
                  f"{estimate_minutes(genai.path, cfg, slices)} min on 2 cores")
    trained = train_all(genai.path, settings, matcher_snapshot_dir=ml_dir, assistant_config=cfg,
                        matcher_config=opts.matcher_config, n_slices=slices, allow_empty=True)
    for kind, v in trained.items():
        if "skipped" in v:
            console.print(f"{kind}: skipped ({v['skipped']})")
        else:
            console.print(f"{kind} {v['version']} on {v['snapshot']}: {v['shards']} shards, "
                          f"{v['timings'].get('total_seconds')} s, metrics {json.dumps(v['metrics'])}")
    out["trained"] = trained
    from consentry.training.registry import Registry

    live = Registry(settings.models).get(trained["assistant"]["version"])
    drafts_before = _drafts(settings, live["version"])
    members = _canary_members(network, live, opts.forget_members)
    now = dt.datetime.now(dt.UTC)
    for m in members:
        ledger.append_request(m, "erase_account", now, client_request_id=f"demo-forget-{m}-{now:%Y%m%d%H%M%S}")
    console.print(f"{len(members)} members ask for erasure (members with planted canaries): {', '.join(members)}")
    rep = forget(pending=True, settings=settings, ledger=ledger)
    console.print(rep.text())
    summaries = summarize(rep.models, settings)
    console.print(_model_lines(summaries))
    for s in summaries:
        console.print(f"  {s['model']}: {s['old_version']} superseded by {s['new_version']}")
    for s in summaries:
        if s["model"] == "assistant" or s.get("verification"):
            for line in _verification_lines(s.get("verification")):
                console.print("  " + line)
    out["forget_models"] = summaries
    after = next((s["new_version"] for s in summaries if s["model"] == "assistant"), live["version"])
    drafts_after = _drafts(settings, after)
    t = Table(title=f"Drafts before ({live['version']}) and after ({after}) the forget, after the output filter",
              title_justify="left", show_lines=True)
    t.add_column("before")
    t.add_column("after")
    for (b, nb), (a, na) in zip(drafts_before, drafts_after):
        t.add_row(f"{b} [dim]({nb} masked)[/dim]", f"{a} [dim]({na} masked)[/dim]")
    console.print(t)
    out["drafts"] = {"before": drafts_before, "after": drafts_after}


def _drafts(settings: Settings, version: str) -> list[tuple[str, int]]:
    """Three drafts from fixed prompts, through the output filter: (text, spans masked)."""
    from consentry.training.pipeline import load_assistant
    from consentry.training.safety import draft_redactor, filter_draft

    ens = load_assistant(settings.models, version)
    red = draft_redactor(settings)
    return [filter_draft(red, p, ens.generate(p, max_new=40, seed=i)) for i, p in enumerate(DRAFT_PROMPTS)]


def _member_link(settings: Settings, member: str | None) -> str | None:
    from consentry.center.auth import signin_url
    from consentry.center.config import CenterSettings, create_secret

    cs = CenterSettings()
    if cs.secret_key is None:
        create_secret(settings)  # the demo's home: the key `consentry serve` will then find
    if member is None:
        return None
    return signin_url(cs.public_url, cs.signing_key(settings), member)
