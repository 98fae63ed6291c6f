"""Every error is one line: each `consentry` subcommand, given bad options, paths, dates
or files, exits 2 with one `error: ...` line on stderr, and never a traceback.

The commands are found by walking the Typer app, so a new command is covered the day
it is registered: every one gets an unknown option and (when it has required
parameters) none at all, and each parameter the corpus below knows by name gets every
bad value of its kind, with good values for the other required parameters.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from consentry.cli import app
from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[1]
STRICT_PACK = ROOT / "src/consentry/policy/packs/strict.yaml"
# Commands that create their ledger (a URL to a file that does not exist yet is right for them).
CREATES_LEDGER = {"ledger init", "ledger import"}
NOT_HERE = {("snapshot build", "root")}  # build creates its root


def _commands() -> Iterator[tuple[str, object]]:
    def walk(cmd: object, path: list[str]) -> Iterator[tuple[str, object]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    return walk(typer.main.get_command(app), [])


COMMANDS = dict(_commands())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good inputs and every kind of bad one, built once."""
    from consentry.network import synth

    d = tmp_path_factory.mktemp("corpus")
    net = d / "net"
    synth.generate(net, members=25, seed=3, progress=False)
    c = {"net": net, "missing": d / "missing", "afile": d / "afile.txt", "empty": d / "empty",
         "truncated": d / "truncated", "garbage": d / "garbage", "noitems": d / "noitems",
         "texts": d / "texts.jsonl", "badpack": d / "bad.yaml", "out": d / "out", "home": d / "home"}
    c["afile"].write_text("not a directory\n")
    c["empty"].mkdir()
    c["home"].mkdir()
    c["out"].mkdir()
    for name, damage in (("truncated", lambda b: b[: len(b) // 2]), ("garbage", lambda b: b"PAR1 garbage")):
        shutil.copytree(net, c[name])
        for f in c[name].glob("*.parquet"):
            f.write_bytes(damage(f.read_bytes()))
    c["noitems"].mkdir()
    shutil.copy(net / "members.parquet", c["noitems"] / "members.parquet")
    c["texts"].write_text('{"id": "1", "text": "Call Ana Lima at 555-0100."}\n')
    c["badpack"].write_bytes(b"name: x\nversions: \xff\xfe\n")
    return c


def _bad_values(command: str, param: str, c: dict[str, Path]) -> list[str]:
    """The bad values of the parameter `param` of `command` (none when the corpus has none)."""
    if (command, param) in NOT_HERE:
        return []
    dirs = [c["missing"], c["afile"], c["empty"], c["truncated"], c["garbage"], c["noitems"]]
    ledger_urls = ["notaurl", "foo://host/db", f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/no_such_db_e17"]
    if command not in CREATES_LEDGER:
        ledger_urls.append(f"sqlite:///{c['missing']}/ledger.sqlite")
    table: dict[str, list[object]] = {
        "as_of": ["yesterday", "2025-13-45", "", "2025-01-01T25:00"],
        "pack": [c["empty"], c["missing"] / "x.yaml", "no-such-pack", c["badpack"]],
        "file": [c["empty"], c["missing"] / "x.yaml", c["badpack"]],
        "purpose": ["nope", ""],
        "network": dirs,
        "src": dirs,
        "url": ledger_urls,
        "root": [c["missing"], c["afile"]],
        "shards": ["-3", "0", "x"], "workers": ["-3", "0"], "slices": ["0"], "show": ["-1"],
        "length": ["0"], "k": ["0"], "top": ["0"], "port": ["-3", "70000"], "max_pii_density": ["-1", "2"],
        "engine": ["nope"], "fmt": ["xml"], "operator": ["nope"], "person": ["nope"],
        "inp": [c["missing"], c["empty"]], "data": [c["missing"], c["afile"]], "allow": [c["missing"]],
        "occupations": [c["missing"], c["empty"]],
        "anchor": ["12:abc", "x"], "config": ["{not json"], "item": ["no-such-item"], "request": ["no-such-request"],
        "ref": ["nope/v9", "genai_training/../../x"], "a": ["nope/v1"], "b": ["nope/v2"],
        "version": ["no-such-version"], "event_id": ["no-such-event"], "member_id": ["no-such-member"],
    }
    if command == "decide":
        table["out"] = [c["out"] / "d.xlsx", c["out"] / "d", c["out"]]
    if command == "ledger import":
        table["directory"] = [c["missing"], c["afile"], c["empty"], c["garbage"], c["truncated"]]
    if command in ("network generate", "demo"):
        table["members"] = ["-3", "0"]
    return [str(v) for v in table.get(param, [])]


def _good(command: str, param: str, c: dict[str, Path]) -> str:
    """A good value for a required parameter, so that the bad one is what fails."""
    good = {"as_of": "2025-06-01", "pack": "linkedin-2024", "purpose": "genai_training", "network": c["net"],
            "src": c["net"], "directory": c["net"], "inp": c["texts"], "data": c["net"], "member": "m_x",
            "prompt": "hello", "member_id": "m_x", "event_id": "ev", "ref": "genai_training",
            "a": "genai_training", "b": "genai_training", "version": "nope", "file": STRICT_PACK}
    if param == "out":
        return str(c["out"] / ("d.parquet" if command == "decide" else "o.jsonl"))
    return str(good[param])


def _context(command: str, bad: str, c: dict[str, Path]) -> dict[str, str]:
    """Optional parameters a command needs so that it reaches the bad value (good ones)."""
    ctx = {"network": str(c["net"])}
    if command == "explain":
        ctx["item" if bad == "item" else "member"] = "it_x" if bad == "item" else "m_x"
    if command == "redact explain":
        ctx = {"inp": {"id": "1"}, "network": {"item": "x"}, "item": {"network": str(c["net"])}}.get(
            bad, {"text": "Call Ana Lima."})
    return ctx


def _args(command: str, cmd: object, c: dict[str, Path], bad: str | None, value: str | None) -> list[str]:
    args = command.split()
    ctx = _context(command, bad or "", c)
    for p in cmd.params:  # type: ignore[attr-defined]
        if p.name == bad:
            val = value
        elif p.required:
            val = _good(command, p.name, c)
        elif p.name in ctx:
            val = ctx[p.name]
        else:
            continue
        if p.param_type_name == "argument":
            args.append(val)
        else:
            args += [p.opts[0], val]
    return args


def _cases(c: dict[str, Path]) -> Iterator[tuple[str, list[str], str]]:
    """(label, arguments, what the error line must name)."""
    damaged = (str(c["truncated"]), str(c["garbage"]))
    for command, cmd in COMMANDS.items():
        yield f"{command} --no-such-option", [*command.split(), "--no-such-option"], "--no-such-option"
        if any(p.required for p in cmd.params):  # type: ignore[attr-defined]
            yield f"{command} (nothing)", command.split(), "Missing"
        for p in cmd.params:  # type: ignore[attr-defined]
            for value in _bad_values(command, p.name, c):
                # a damaged file is named (its directory at least), whatever reads it
                names = value if value in damaged else ""
                yield f"{command} {p.name}={value!r}", _args(command, cmd, c, p.name, value), names


def test_the_walk_finds_every_command() -> None:
    assert {"decide", "explain", "snapshot build", "ledger import", "audit verify", "network validate",
            "redact apply", "pack validate", "train assistant", "serve"} <= set(COMMANDS)


def test_every_subcommand_refuses_bad_input_in_one_line(corpus: dict[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_HOME", str(corpus["home"]))
    monkeypatch.chdir(corpus["out"])
    runner = CliRunner()
    failures, n = [], 0
    for label, args, names in _cases(corpus):
        n += 1
        r = runner.invoke(app, args)
        lines = r.stderr.strip().splitlines()
        one_error_line = len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0]
        if r.exit_code != 2 or "Traceback" in r.output or not one_error_line:
            failures.append(f"{label}: exit {r.exit_code}, stderr {r.stderr.strip()[-300:]!r}"
                            + (f", raised {r.exception!r}" if not isinstance(r.exception, SystemExit) else ""))
    assert n > 150
    assert not failures, f"{len(failures)} of {n} bad inputs not refused in one line:\n" + "\n".join(failures)
    assert not (corpus["missing"]).exists()  # no bad path was created on the way
    assert not (corpus["home"] / "network").exists()  # and no command ran on with a default instead


@pytest.mark.parametrize("args", [
    ["decide", "--pack", "linkedin-2024", "--as-of", "yesterday", "--out", "d.parquet"],
    ["audit", "verify", "--url", "sqlite:////nonexistent-e17/x.sqlite"],
])
def test_the_installed_command_prints_one_line(args: list[str], tmp_path: Path) -> None:
    """Through `main()`, as the console script runs it: no Typer traceback, no rich panel."""
    env = {"CONSENTRY_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", "from consentry.cli import main; main()", *args],
                       check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert not Path("/nonexistent-e17").exists()


def test_a_bug_is_one_line_too_and_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from consentry.cli.errors import OneLineErrors
    from consentry.errors import OptionError

    bugs = typer.Typer(cls=OneLineErrors)

    @bugs.callback()
    def root() -> None:
        """A group, as `consentry` is."""

    @bugs.command()
    def bad(kind: str) -> None:
        if kind == "input":
            raise OptionError("--kind", kind, "not a kind", "bug, input")
        raise KeyError("a bug")

    runner = CliRunner()
    r = runner.invoke(bugs, ["bad", "input"])
    assert (r.exit_code, r.stderr) == (2, "error: --kind 'input': not a kind; accepted: bug, input\n")
    r = runner.invoke(bugs, ["bad", "bug"])
    assert r.exit_code == 1 and r.stderr.startswith("error: internal error (KeyError: 'a bug')")
    assert len(r.stderr.splitlines()) == 1
    monkeypatch.setenv("CONSENTRY_DEBUG", "1")
    r = runner.invoke(bugs, ["bad", "bug"])
    assert isinstance(r.exception, KeyError)  # re-raised: the traceback is there to read
