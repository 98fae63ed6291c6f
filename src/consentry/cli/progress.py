"""A status line on stderr for commands that work for more than a few seconds.

Why: `forget --pending` once sat silent for minutes. A spinner with what is being
done now (and, where the code reports steps, how far it got) tells a user the
command is alive. It goes to stderr, so `--json` on stdout stays clean, and shows
only on a terminal: Rich leaves a pipe or a log file untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner

console = Console(stderr=True)


@contextmanager
def working(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner showing `text` until the block ends; the function it yields says what
    comes next, drawn at once (a step shorter than the refresh interval still shows)."""
    spinner = Spinner("dots", text, style="green")
    with Live(spinner, console=console, transient=True, refresh_per_second=12.5) as live:

        def say(now: str) -> None:
            spinner.update(text=now)
            live.refresh()

        yield say


# What a forget run does after each step it reports (`consentry.forgetting.steps`).
FORGET_NEXT = {
    "run_journal": "rewriting the snapshots that hold the data",
    "snapshots_done": "rewriting staged exports",
    "staged_rewritten": "deleting erased members' export bundles",
    "exports_deleted": "scrubbing caches",
    "caches_scrubbed": "searching logs and other files for erased texts",
    "logs_scrubbed": "retraining the affected model shards",
    "models_retrained": "writing receipts",
    "receipts_written": "recording the outcome in the ledger",
}


@contextmanager
def forget_steps() -> Iterator[None]:
    """The status of a forget run, following the steps it reports."""
    from consentry.forgetting import steps

    shards = 0
    with working("forget: reading the ledger and planning the run") as say:

        def step(name: str) -> None:
            nonlocal shards
            if name == "shard_rewritten":
                shards += 1
                say(f"forget: rewriting snapshots ({shards} shard file(s) rewritten)")
            elif name in FORGET_NEXT:
                say(f"forget: {FORGET_NEXT[name]}")

        with steps.watching(step):
            yield
