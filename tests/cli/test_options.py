"""The CLI a user expects: `--version`, closed sets offered as choices, flags without a type.

Each option that takes one of a closed set lists the set in --help and refuses any
other value with the accepted ones (exit 2, one line); a flag takes no value, so its
help shows no `<bool>`.
"""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

import consentry
from consentry.cli import app
from consentry.vocab import PersonPoint, Purpose

runner = CliRunner()
PURPOSES = [p.value for p in Purpose]

# command, option, the accepted values, the other options the command requires
CHOICES = [
    (
        ["decide"],
        "--purpose",
        PURPOSES,
        ["--pack", "strict", "--as-of", "2025-01-01", "--out", "d.parquet"],
    ),
    (
        ["explain"],
        "--purpose",
        PURPOSES,
        ["--pack", "strict", "--as-of", "2025-01-01", "--member", "m1"],
    ),
    (["snapshot", "build"], "--purpose", PURPOSES, ["--pack", "strict", "--as-of", "2025-01-01"]),
    (["snapshot", "list"], "--purpose", PURPOSES, []),
    (
        ["snapshot", "build"],
        "--engine",
        ["duckdb", "spark"],
        ["--purpose", "genai_training", "--pack", "strict", "--as-of", "2025-01-01"],
    ),
    (["network", "generate"], "--format", ["parquet", "jsonl"], []),
    (
        ["redact", "find"],
        "--person",
        [p.value for p in PersonPoint],
        ["--in", "README.md", "--out", "x.jsonl"],
    ),
    (
        ["redact", "apply"],
        "--operator",
        ["mask", "pseudonymise"],
        ["--in", "README.md", "--out", "x.jsonl"],
    ),
    (["request", "object"], "--purpose", PURPOSES, ["m1"]),
    (["train", "assistant"], "--purpose", PURPOSES, []),
]


def _plain(text: str) -> str:
    return re.sub(r"[\s│]+", "", text)  # the help's box drawing wraps long choice lists anywhere


def test_version_prints_the_single_version_source() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"consentry {consentry.__version__}"


@pytest.mark.parametrize(
    ("cmd", "opt", "values", "rest"), CHOICES, ids=lambda v: v if isinstance(v, str) else None
)
def test_closed_sets_are_choices(
    cmd: list[str], opt: str, values: list[str], rest: list[str]
) -> None:
    helped = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "400"})
    assert helped.exit_code == 0
    assert _plain("|".join(values)) in _plain(helped.output), f"{opt} lists its values in --help"
    res = runner.invoke(app, [*cmd, opt, "nonsense", *rest])
    assert res.exit_code == 2
    err = res.stderr
    assert "'nonsense' is not one of" in err and "Value error" not in err
    assert all(f"'{v}'" in err for v in values), err
    assert len(err.strip().splitlines()) == 1


def test_no_flag_shows_a_bool_metavar() -> None:
    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield path

    shown = []
    for path in [[], *walk(typer.main.get_command(app), [])]:
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, path
        if "<bool>" in res.output:
            shown.append(" ".join(path))
    assert not shown, f"<bool> shown by: {shown}"


def test_operator_choices_are_the_redactors() -> None:
    from typing import get_args

    from consentry.cli import params
    from consentry.redact.config import RedactConfig

    assert get_args(params.RedactOperator) == get_args(
        RedactConfig.model_fields["operator"].annotation
    )
