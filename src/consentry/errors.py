"""The project's errors for bad input: something a user gave that consentry cannot accept.

Why a base class: whoever finds bad input (an option, a path, a file, a database URL)
raises a `UserError` whose message names what is wrong and what is accepted, and
nothing in between needs to know how it will be shown. The command line turns every
one into a single `error: ...` line on stderr and exit status 2
(`consentry.cli.errors`); a traceback is only ever a bug.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input. The message is one sentence: what is wrong, and what is accepted."""


class OptionError(UserError):
    """An option's value is not accepted."""

    def __init__(self, option: str, value: object, problem: str, accepted: str | None = None) -> None:
        self.option, self.value = option, value
        text = f"{option} {value!r}: {problem}"
        super().__init__(f"{text}; accepted: {accepted}" if accepted else text)


class NotFound(UserError):
    """A file, directory, database or record that does not exist (never created to be read)."""
