"""`consentry redact find|apply|eval`: thin commands over `consentry.redact`."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from consentry.cli import params

redact_app = typer.Typer(help="Find and remove personal data in text.", no_args_is_help=True)
console = Console()

MembersOpt = typer.Option(
    None, "--members", help="members.parquet/.jsonl (or an export dir) to find mentions of members."
)
PersonOpt = typer.Option(
    "balanced", "--person", callback=params.plain,
    help="PERSON operating point: balanced (best recall-weighted F2) or high_recall (most recall at a "
         "precision no lower than Presidio's on held-out training text)",
)
AllowOpt = typer.Option(
    None, "--allow", exists=True, dir_okay=False,
    help="Terms that are not people (skills, companies), one per line: a PERSON guess inside one is kept.",
)


def _allow_terms(path: Path | None) -> tuple[str, ...]:
    from consentry.redact.allow import read_terms

    try:
        return read_terms(path) if path is not None else ()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--allow") from exc


WorkersOpt = typer.Option(
    None, "--workers", min=1,
    help="Processes to run on (default: all cores for inputs over 1 MB, else one).",
)
AUTO_PARALLEL_BYTES = 1 << 20  # below this, starting a pool costs more than it saves


def _workers(inp: Path, workers: int | None) -> int:
    if workers is not None:
        return workers
    return (os.cpu_count() or 1) if inp.stat().st_size > AUTO_PARALLEL_BYTES else 1


def _run_with_progress(job, inp: Path, verb: str):  # noqa: ANN001, ANN202 - job(progress=callback) -> JobReport
    """`job` with a progress bar over the bytes of `inp` (on a terminal only)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    total = inp.stat().st_size
    with Progress(TextColumn(verb), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(verb, total=total)
        return job(progress=lambda n: bar.advance(task, n))


def _person_threshold(point: str) -> float:
    from consentry.redact.person import operating_threshold

    try:
        return operating_threshold(point)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--person") from exc


@redact_app.command("find")
def find(
    inp: Path = typer.Option(..., "--in", exists=True, dir_okay=False, help='JSONL lines {"id", "text"}.'),
    out: Path = typer.Option(..., "--out", help='JSONL lines {"id", "spans": [...]}.'),
    members: Optional[Path] = MembersOpt,
    person: params.PersonPoint = PersonOpt,
    allow: Optional[Path] = AllowOpt,
    workers: Optional[int] = WorkersOpt,
) -> None:
    """Write the personal-data spans (character offsets) of each text."""
    from consentry.redact import RedactConfig, Redactor
    from consentry.redact.jsonl import find_file, load_directory

    cfg = RedactConfig(person_threshold=_person_threshold(person), allow_terms=_allow_terms(allow))
    redactor = Redactor(cfg, load_directory(members))
    _run_file_job(find_file, inp, out, redactor, workers, "finding", lambda r: f"{r.read} texts, {r.spans} spans -> {out}")


@redact_app.command("apply")
def apply(
    inp: Path = typer.Option(..., "--in", exists=True, dir_okay=False, help='JSONL lines {"id", "text"}.'),
    out: Path = typer.Option(..., "--out", help='JSONL lines {"id", "text", "pii_count", "dropped"}.'),
    operator: params.RedactOperator = typer.Option("mask", "--operator",
                                                   help="mask writes [TYPE]; pseudonymise a consistent fake value"),
    max_pii_density: Optional[float] = typer.Option(0.5, "--max-pii-density", min=0.0, max=1.0,
                                                    help="Drop texts denser in PII than this."),
    members: Optional[Path] = MembersOpt,
    # redact.config.KEY_ENV spelled out: importing consentry.redact here would slow every command's start.
    key_env: str = typer.Option("CONSENTRY_REDACTION_KEY", "--key-env", help="Environment variable holding the pseudonymisation key."),
    person: params.PersonPoint = PersonOpt,
    allow: Optional[Path] = AllowOpt,
    workers: Optional[int] = WorkersOpt,
) -> None:
    """Replace personal data: `[TYPE]` masks or keyed, consistent pseudonyms."""
    from consentry.redact import RedactConfig, Redactor
    from consentry.redact.jsonl import apply_file, load_directory

    key = os.environ.get(key_env, "").encode() or None
    if operator == "pseudonymise" and not key:
        raise typer.BadParameter(f"--operator pseudonymise needs a secret key in ${key_env}")
    cfg = RedactConfig(operator=operator, max_pii_density=max_pii_density, person_threshold=_person_threshold(person),
                       allow_terms=_allow_terms(allow))
    redactor = Redactor(cfg, load_directory(members), key=key)
    _run_file_job(apply_file, inp, out, redactor, workers, "redacting", lambda r: f"{r.read} texts, {r.spans} spans replaced, {r.dropped} dropped -> {out}")


def _run_file_job(job: Any, inp: Path, out: Path, redactor: Any, workers: int | None, verb: str,
                  summary: Callable[[Any], str]) -> None:
    """Run `find_file` or `apply_file` with progress, say what it did and where malformed lines went."""
    r = _run_with_progress(partial(job, inp, out, redactor, _workers(inp, workers)), inp, verb)
    console.print(summary(r))
    if r.quarantined:
        console.print(f"[red]{r.quarantined} malformed lines[/] -> {r.quarantine_path}")


@redact_app.command("eval")
def eval_(
    data: Path = typer.Option(..., "--data", exists=True, file_okay=False, help="Labeled sets (CoNLL, Presidio JSON) or a synthetic network."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="Only these sets (file stems)."),
    members: Optional[Path] = MembersOpt,
    person: params.PersonPoint = PersonOpt,
) -> None:
    """Precision, recall and F1 per type, exact and overlap matching, per labeled set."""
    from consentry.redact.evaluate import evaluate_dir
    from consentry.redact.train_person import TRAIN_SETS

    results = evaluate_dir(data, tuple(sets) if sets else None, members=members,
                           person_threshold=_person_threshold(person))
    if not results:
        from consentry.errors import NotFound

        raise NotFound(f"no labeled sets in {data} (CoNLL or Presidio JSON files, or a synthetic network export)")
    for name, res in results.items():
        note = " (PERSON model trained on this set: in-sample)" if name in TRAIN_SETS else ""
        t = Table(title=f"{name}{note}: {res.n_texts} texts, {res.texts_per_s:,.0f} texts/s")
        for col in ("type", "gold", "pred", "P exact", "R exact", "F1 exact", "P overlap", "R overlap", "F1 overlap"):
            t.add_column(col, justify="left" if col == "type" else "right")
        for row in res.rows:
            t.add_row(row[0], str(row[1]), str(row[2]), *(f"{x:.3f}" for x in row[3:]))
        console.print(t)
        if res.member_mentions:
            n, found, attributed = res.member_mentions
            console.print(
                f"member mentions: {n}, found {found} (recall {found / n:.4f}), "
                f"attributed to the right member {attributed} ({attributed / n:.4f})"
            )


def _text_from(read, source: Path, key: str | None, flag: str, key_flag: str) -> str | None:  # noqa: ANN001
    """`read(source, key)`: the text to explain, or an error naming what is missing."""
    if key is None:
        raise typer.BadParameter(f"{flag} needs {key_flag}", param_hint=key_flag)
    try:
        return read(source, key)
    except KeyError as exc:
        raise typer.BadParameter(exc.args[0], param_hint=key_flag) from exc

def _pack_settings(pack: str, as_of: str | None) -> tuple[float | None, tuple[str, ...]]:
    """The PERSON threshold and allowed terms of the pack version in force at `as_of` (default now)."""
    import datetime as dt

    from consentry.policy.packs import load_pack
    from consentry.snapshots.inputs import redact_config

    try:
        loaded = load_pack(pack)
    except (FileNotFoundError, ValueError) as exc:  # PackError is a ValueError naming file, line and field
        raise typer.BadParameter(str(exc), param_hint="--pack") from exc
    when = as_of or dt.datetime.now(dt.timezone.utc).isoformat()
    try:
        version = loaded.version_at(when)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from exc
    if version is None:
        raise typer.BadParameter(f"no version of {pack} is in force at {when}", param_hint="--as-of")
    cfg = redact_config(version)
    return cfg.person_threshold, cfg.allow_terms

@redact_app.command("explain")
def explain_(
    text: Optional[str] = typer.Argument(None, help="The text to explain (or --in FILE --id ID, or --network DIR --item ID)."),
    inp: Optional[Path] = typer.Option(None, "--in", exists=True, dir_okay=False, help='JSONL lines {"id", "text"}.'),
    item_id: Optional[str] = typer.Option(None, "--id", help="The line of --in to explain."),
    network: Optional[Path] = typer.Option(
        None, "--network", exists=True, file_okay=False,
        help="A platform export: explain its item --item, with its members as the directory."),
    item: Optional[str] = typer.Option(None, "--item", help="The item_id of --network to explain."),
    pack: Optional[str] = typer.Option(
        None, "--pack", help="Redact as this pack does (its PERSON point and allowed terms), instead of --person/--allow.",
        callback=params.pack),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="With --pack: the version in force then (default: now).",
                                        callback=params.as_of),
    members: Optional[Path] = MembersOpt,
    person: params.PersonPoint = PersonOpt,
    allow: Optional[Path] = AllowOpt,
    top: int = typer.Option(5, "--top", min=1, help="Heaviest features shown per PERSON candidate."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
) -> None:
    """Why each span was found, and every word the PERSON recogniser scored, found or not."""
    import json

    from consentry.redact.explain import explain
    from consentry.redact.jsonl import load_directory, text_of

    if sum(x is not None for x in (text, inp, network)) != 1:
        raise typer.BadParameter("give one of: the text, --in FILE with --id ID, --network DIR with --item ID")
    if inp is not None:
        text = _text_from(text_of, inp, item_id, "--in", "--id")
    if network is not None:
        from consentry.network.reader import item_text, table_files

        text = _text_from(item_text, network, item, "--network", "--item")
        if not text:
            console.print(f"item {item} has no text: nothing to redact")
            return
        if members is None and table_files(network, "members"):
            members = network
    from consentry.redact.allow import AllowList

    threshold, terms, point = _person_threshold(person), _allow_terms(allow), person
    if pack is not None:
        (threshold, terms), point = _pack_settings(pack, as_of), f"pack {pack}"
    ex = explain(text, load_directory(members), threshold, top=top, allow=AllowList(terms) if terms else None)
    if as_json:
        typer.echo(json.dumps(ex.to_dict(), ensure_ascii=False))
        return
    spans = Table(title=f"{len(ex.spans)} spans kept")
    for col in ("start-end", "type", "text", "score", "member"):
        spans.add_column(col)
    for s in ex.spans:
        spans.add_row(f"{s.start}-{s.end}", str(s.type), text[s.start:s.end], f"{s.score:.3f}", s.member_id or "")
    console.print(spans)
    cands = Table(title=f"PERSON candidates: found when the score is >= {ex.person_threshold} ('{point}')")
    for col in ("word", "model", "score", "found", "why: the heaviest features (weight, what it reads)"):
        cands.add_column(col)
    for c in ex.candidates:
        why = "\n".join(f"{r.weight:+.2f} {r.reads}" for r in c.reasons)
        if c.evidence:
            why = f"[bold]{c.evidence}[/]\n" + why
        found = ("yes, but inside an allowed term: kept" if c.allowed else "yes") if c.found else "no"
        cands.add_row(c.word, f"{c.model:.3f}", f"{c.score:.3f}", found, why)
    console.print(cands)


def register(app: typer.Typer) -> None:
    app.add_typer(redact_app, name="redact")
