"""Tables readable at 80 columns: `snapshot list` once cut every cell to "2…" there.

The longest purpose (third_party_sharing) makes the widest snapshot ref; its version,
purpose and pack@version must come out whole in an 80-column terminal.
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import consentry


def test_snapshot_list_and_show_at_80_columns(tmp_path: Path, cli_env: dict[str, str]) -> None:
    consentry(
        cli_env,
        "network",
        "generate",
        "--members",
        "30",
        "--seed",
        "1",
        "--out",
        "net",
        "-q",
        cwd=tmp_path,
    )
    consentry(
        cli_env,
        "snapshot",
        "build",
        "--purpose",
        "third_party_sharing",
        "--pack",
        "linkedin-2024",
        "--as-of",
        "2025-12-01",
        "--network",
        "net",
        "--no-ledger",
        "-q",
        cwd=tmp_path,
    )
    listed = consentry(cli_env, "snapshot", "list", cwd=tmp_path)
    assert max(len(line) for line in listed.splitlines()) <= 80
    assert "…" not in listed, listed
    row = next(line for line in listed.splitlines() if "v0001" in line)
    assert (
        "third_party_sharing/v0001" in row
        and "linkedin-2024@2025-11-03" in row
        and "2025-12-01" in row
    )
    assert row.split()[-1] == "ok"

    wide = consentry({**cli_env, "COLUMNS": "160"}, "snapshot", "list", "--wide", cwd=tmp_path)
    assert "content hash" in wide and "duckdb" in wide and "…" not in wide

    shown = consentry(cli_env, "snapshot", "show", "third_party_sharing", cwd=tmp_path)
    assert "third_party_sharing/v0001" in shown and "linkedin-2024@2025-11-03" in shown
    assert "…" not in shown


def test_models_list_at_80_columns(tmp_path: Path, cli_env: dict[str, str]) -> None:
    from consentry.training.registry import Registry

    with Registry(Path(cli_env["CONSENTRY_HOME"]) / "models").transaction() as data:
        data["versions"].append(
            {
                "name": "matcher",
                "version": "matcher-0001",
                "status": "live",
                "parent": None,
                "snapshot": {"purpose": "ml_personalization", "version": "v0001"},
                "shards": [{"shard": i} for i in range(16)],
                "metrics": {"recall@10": 0.4321},
                "created_at": "2026-12-05T00:00:00+00:00",
            }
        )
    listed = consentry(cli_env, "models", "list", cwd=tmp_path)
    assert "…" not in listed and max(len(line) for line in listed.splitlines()) <= 80
    row = next(line for line in listed.splitlines() if "matcher-0001" in line)
    assert "ml_personalization/v0001" in row and "R@10 0.4321" in row and "16" in row.split()
