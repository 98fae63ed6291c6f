"""README's "Everyday commands" run as written, in order, in a fresh directory and home.

The block is read from README.md, so the test follows the README; only the network
size is made tiny. Skipped lines, and why:
- `consentry serve` runs until stopped (tests/center start the same app);
- `consentry train assistant` and `consentry assist` train and use a model, minutes of
  CPU on a 1,000-member network (tests/training/test_cli.py runs both on a tiny corpus).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = ("consentry serve", "consentry train ", "consentry assist ")


def everyday_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Everyday commands\n+```sh\n(.*?)```", text, re.DOTALL)
    assert block, "README.md has an 'Everyday commands' sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_block_names_what_the_test_skips() -> None:
    lines = everyday_commands()
    assert all(any(line.startswith(s) for line in lines) for s in SKIP)
    assert lines[0].startswith("consentry network generate --members 1000 ")


@pytest.mark.slow
def test_readme_everyday_commands_run_in_order(tmp_path: Path, cli_env: dict[str, str]) -> None:
    lines = [
        line.replace("--members 1000", "--members 200")
        for line in everyday_commands()
        if not line.startswith(SKIP)
    ]
    script = "set -e\n" + "\n".join(
        lines
    )  # bash -x traces each command to stderr: a failure names its line
    res = subprocess.run(
        ["bash", "-x", "-c", script],
        check=False,
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    out = res.stdout
    assert "decisions written to decisions.parquet" in out
    assert "genai_training/v0001" in out  # snapshot list
    assert "OK:" in out  # verify-erasure: nothing erased remains
    assert (tmp_path / "spans.jsonl").stat().st_size > 0 and (
        tmp_path / "redacted.jsonl"
    ).stat().st_size > 0
    assert "export request(s) processed" in out
    home = Path(cli_env["CONSENTRY_HOME"])
    assert (home / "ledger.sqlite").is_file() and not (
        home / "network"
    ).exists()  # net/ was used throughout
