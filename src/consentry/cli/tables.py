"""Listing tables that stay readable in an 80-column terminal.

Why: a bordered Rich table of nine columns squeezes every cell to "2…" at 80
columns. The listings show by default the columns a reader scans (what it is, under
which pack, as of when, how much, its state), never wrapped, separated by spaces
instead of borders; `--wide` adds the rest (engine, hashes, timestamps) for a wide
terminal or a pipe. `--json` stays the complete, machine-readable form.
"""

from __future__ import annotations

import typer
from rich import box
from rich.console import JustifyMethod
from rich.table import Table

WideOpt = typer.Option(
    False, "--wide", "-w", help="every column (needs a wide terminal); --json for scripts"
)


def listing(title: str | None = None) -> Table:
    """A borderless table with a rule under its header: two columns of text cost one space."""
    return Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), pad_edge=False
    )


def key_column(t: Table, name: str, justify: JustifyMethod = "left") -> None:
    """A column whose values must stay whole (ids, versions, pack refs, dates): never wrapped."""
    t.add_column(name, no_wrap=True, justify=justify)
