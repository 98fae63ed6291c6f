"""The `consentry` command: a thin Typer shell over the modules; no logic here.

Each area registers its own commands from `consentry.cli.<area>` through a
`register(app)` function, so areas stay independent.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import typer
from typer.core import TyperOption

from consentry import __version__
from consentry.cli.errors import OneLineErrors

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    name="consentry",
    help="Train AI on member data only where consent and jurisdiction allow, and prove it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=OneLineErrors,  # every error one line on stderr, exit 2 for bad input; never a traceback
)

AREAS = ("network", "ledger", "policy", "redact", "snapshot", "forget", "train", "center", "requests", "demo")



def _flag_type(self: TyperOption, ctx: Any) -> str | None:  # Any: Typer's own vendored click.Context
    """No type column for a flag: `--quiet` takes no value, so `<bool>` beside it misleads."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
# Typer 0.29 labels every flag <bool>
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"consentry {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print consentry's version and exit"),
) -> None:
    """Train AI on member data only where consent and jurisdiction allow, and prove it."""


for _area in AREAS:
    try:
        _mod = importlib.import_module(f"consentry.cli.{_area}")
    except ModuleNotFoundError as exc:  # an area not built yet
        if exc.name != f"consentry.cli.{_area}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()
