"""Every error of the `consentry` command is one line on stderr, never a traceback.

Why here and not in each command: a command cannot know every way its input can be
bad (an option, a truncated Parquet file, a database URL, a damaged pack), and a
traceback tells a user nothing they can act on. The root group runs every command
and turns what it raises into `error: <what is wrong and what is accepted>`:

- exit 2: bad input. Click's usage errors (unknown or missing options, values an
  option's type or callback refuses), `consentry.errors.UserError`, the domain
  errors that name bad input (`DOMAIN_ERRORS`), and what the libraries raise for a
  file or database that cannot be read (`_library_message`).
- exit 1: anything else is a bug in consentry; the line names the exception, and
  `CONSENTRY_DEBUG=1` re-raises it to show the traceback.

Domain errors are matched by their qualified class names so that this module imports
nothing heavy: an exception of a module that was never imported cannot be raised.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from consentry.errors import UserError

BAD_INPUT = 2
BUG = 1

# Errors other modules raise for input a user gave: the message already names the
# file, row, field or option.
DOMAIN_ERRORS = frozenset({
    "consentry.policy.packs.PackError",
    "consentry.network.reader.ExportError",
    "consentry.ledger.validate.FieldError",
    "consentry.ledger.store.LedgerConflict",
    "consentry.ledger.anchor.AuditKeyError",
    "consentry.training.corpora.CorpusError",
    "consentry.training.data.SnapshotLayoutError",
    "consentry.training.registry.RegistryError",
    "consentry.snapshots.build.BuildError",
    "consentry.snapshots.layout.UnfinishedForget",
    "consentry.center.config.SecretError",
    "consentry.center.fulfil.RequestRefused",
    "consentry.demo.DemoError",
})

LEDGER_URLS = "sqlite:///PATH/ledger.sqlite or postgresql+psycopg://USER@HOST/DB"


def one_line(text: str) -> str:
    """`text` on one line: line breaks (and the indentation after them) become one space."""
    return re.sub(r"\s*\n\s*", " ", str(text)).strip()


def _names(exc: BaseException) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _library_message(exc: BaseException) -> str | None:
    """What a library raised for input that cannot be read, as one sentence; None if not that."""
    names = _names(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}); files must be UTF-8"
    if isinstance(exc, OSError):
        if exc.filename is not None:
            what = exc.strerror or type(exc).__name__
            return f"{exc.filename}: {what[0].lower()}{what[1:]}"
        return str(exc) or type(exc).__name__
    if "sqlalchemy.exc.ArgumentError" in names or "sqlalchemy.exc.NoSuchModuleError" in names:
        return f"not a database URL this ledger can use ({_first_line(exc)}); accepted: {LEDGER_URLS}"
    if "sqlalchemy.exc.OperationalError" in names or "sqlalchemy.exc.InterfaceError" in names:
        orig = getattr(exc, "orig", None) or exc
        return f"cannot open the ledger database: {_first_line(orig)}"
    if "duckdb.Error" in names or "_duckdb.Error" in names:
        return f"cannot read the input: {_first_line(exc)}"
    if "pyarrow.lib.ArrowException" in names:
        return f"cannot read the input: {_first_line(exc)}"
    return None


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one line for an exception a command raised."""
    if isinstance(exc, UserError) or _names(exc) & DOMAIN_ERRORS:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        return BAD_INPUT, one_line(str(text))
    msg = _library_message(exc)
    if msg is not None:
        return BAD_INPUT, one_line(msg)
    return BUG, one_line(f"internal error ({type(exc).__name__}: {_first_line(exc)}); "
                         "set CONSENTRY_DEBUG=1 to see where")


class _Exited(Exception):
    """A command's `typer.Exit(code)`, carried past Click so `main` can tell it from a return value."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class OneLineErrors(TyperGroup):
    """The root command group: runs a command, reports what it raises on one line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Exit as exc:
            raise _Exited(exc.exit_code) from None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        prog_name = prog_name or "consentry"  # the console script's name, however it was started
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0  # --help and the like
        except _Exited as exc:
            code = exc.code
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        except typer.TyperException as exc:  # Click's usage errors: bad or missing options
            code = getattr(exc, "exit_code", BAD_INPUT)
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                ctx = getattr(exc, "ctx", None)
                hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
                message = one_line(exc.format_message()).replace(": Value error, ", ": ")  # Typer's wording of a Choice
                typer.echo(f"error: {message}{hint}", err=True)
        except Exception as exc:
            if os.environ.get("CONSENTRY_DEBUG") and not isinstance(exc, UserError):
                raise
            code, line = describe(exc)
            typer.echo(f"error: {line}", err=True)
        sys.exit(code)
