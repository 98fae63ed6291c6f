"""The commands: decide writes the decision table; explain prints; pack list/show/validate."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from consentry.cli import app

from .policynet import GERMAN_IP, Net

runner = CliRunner()


@pytest.fixture
def export(tmp_path: Path, net: Net) -> Path:
    net.member()
    net.member("m2", residence_country="DE")
    net.item(item_id="a")
    net.item(item_id="b", kind="message")
    net.item("m2", item_id="c")
    net.signin("m1", GERMAN_IP, "2025-01-10")
    d = tmp_path / "export"
    d.mkdir()
    for name, table in net.tables().items():
        pq.write_table(table, d / f"{name}.parquet")
    return d


def test_decide_writes_decisions(export: Path, tmp_path: Path, home: Path) -> None:
    out = tmp_path / "d.parquet"
    r = runner.invoke(app, ["decide", "--network", str(export), "--pack", "linkedin-2024", "--purpose",
                            "genai_training", "--as-of", "2025-02-20", "--out", str(out), "--raw", "-q"])
    assert r.exit_code == 0, r.output
    rows = {x["item_id"]: x for x in pq.read_table(out).to_pylist()}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["allowed"] and rows["b"]["reasons"] == ["kind_excluded"]
    assert rows["c"]["reasons"] == ["region_prohibited"]
    assert list(pq.read_schema(out).names) == ["item_id", "member_id", "purpose", "as_of", "allowed", "reasons",
                                               "jurisdiction", "legal_basis", "pack", "region_group"]
    assert "3 decisions written" in r.output


def test_explain_member_and_item(export: Path, home: Path) -> None:
    base = ["explain", "--network", str(export), "--pack", "linkedin-2024", "--as-of", "2025-01-15", "--raw"]
    r = runner.invoke(app, [*base, "--member", "m1", "--purpose", "genai_training"])
    assert r.exit_code == 0, r.output
    assert "from a sign-in on 2025-01-10 from 85.214.132.117" in r.output
    r = runner.invoke(app, [*base, "--item", "b"])
    assert r.exit_code == 0 and "kind_excluded" in r.output and "region_prohibited" in r.output
    r = runner.invoke(app, [*base, "--item", "zzz"])
    assert r.exit_code == 2 and r.stderr.strip() == "error: no item 'zzz' in the export"


def test_pack_commands(tmp_path: Path) -> None:
    r = runner.invoke(app, ["pack", "list"])
    assert r.exit_code == 0 and "linkedin-2024" in r.output and "strict" in r.output
    r = runner.invoke(app, ["pack", "show", "linkedin-2024"])
    assert r.exit_code == 0 and "2025-11-03" in r.output and "eea_ch" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversions:\n  - version: a\n    effective_from: 2020-01-01\n    min_age: old\n"
                   "    purposes: {}\n")
    r = runner.invoke(app, ["pack", "validate", str(bad)])
    assert r.exit_code == 2
    assert "bad.yaml:5" in r.output.replace("\n", "") and "min_age" in r.output
    good = Path(__file__).resolve().parents[2] / "src/consentry/policy/packs/strict.yaml"
    r = runner.invoke(app, ["pack", "validate", str(good)])
    assert r.exit_code == 0 and "ok" in r.output


def test_pack_validate_refuses_a_repeated_key(tmp_path: Path) -> None:
    """Before: `min_age: 18` then `min_age: 0` validated as ok and loaded min_age 0."""
    good = Path(__file__).resolve().parents[2] / "src/consentry/policy/packs/linkedin-2024.yaml"
    bad = tmp_path / "li.yaml"
    bad.write_text(good.read_text().replace("  min_age: 18\n", "  min_age: 18\n  min_age: 0\n", 1))
    r = runner.invoke(app, ["pack", "validate", str(bad)])
    assert r.exit_code == 2, r.output
    assert "ok" not in r.output and "duplicate key 'min_age'" in r.output.replace("\n", "")


def test_decide_stages_the_export_every_item_in_decisions_or_quarantine(
    export: Path, tmp_path: Path, home: Path
) -> None:
    import json

    import pyarrow.parquet as pq_

    items = pq_.read_table(export / "items.parquet").to_pylist()
    (export / "items.parquet").unlink()
    with open(export / "items.jsonl", "w") as f:
        for it in items:
            f.write(json.dumps({**it, "created_at": it["created_at"].isoformat()}) + "\n")
        f.write(json.dumps({**items[0], "item_id": "bad", "created_at": "not a date"}) + "\n")
    out = tmp_path / "d.parquet"
    r = runner.invoke(app, ["decide", "--network", str(export), "--pack", "strict", "--as-of", "2025-02-20",
                            "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    decided = {x["item_id"] for x in pq.read_table(out).to_pylist()}
    assert decided == {"a", "b", "c"}
    assert "1 rows quarantined" in " ".join(r.output.split())


def test_write_decisions_keeps_strings_and_refuses_values_outside_the_vocabulary(tmp_path: Path) -> None:
    import duckdb

    from consentry.cli.policy import write_decisions

    con = duckdb.connect()
    good = con.sql("SELECT 'i1' AS item_id, 'genai_training' AS purpose, ['minor', 'opted_out'] AS reasons, "
                   "'dpv:Consent' AS legal_basis")
    write_decisions(con, good, tmp_path / "d.parquet")
    t = pq.read_table(tmp_path / "d.parquet")
    assert str(t.schema.field("purpose").type) == "string"
    assert t.to_pylist() == [{"item_id": "i1", "purpose": "genai_training", "reasons": ["minor", "opted_out"],
                              "legal_basis": "dpv:Consent"}]
    bad = con.sql("SELECT 'i1' AS item_id, 'genai_training' AS purpose, ['no_such_reason'] AS reasons")
    with pytest.raises(duckdb.Error):
        write_decisions(con, bad, tmp_path / "bad.parquet")


@pytest.mark.parametrize("pack, as_of", [("linkedin-2024", "2025-01-15"), ("linkedin-2024", "2025-12-01"),
                                         ("strict", "2025-12-01"), ("linkedin-2024", "2018-01-01")])
def test_typed_decisions_write_the_same_file_as_plain_ones(tmp_path: Path, pack: str, as_of: str) -> None:
    import duckdb

    from consentry.cli.policy import write_decisions
    from consentry.network import synth
    from consentry.policy.decide import decide

    synth.generate(tmp_path / "net", members=150, seed=4, progress=False)
    con = duckdb.connect()
    for name in ("members", "items", "signins", "consent_events", "requests", "notices"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{tmp_path / 'net' / name}.parquet')")
    typed = decide(con, pack, "genai_training", as_of, enums=True)
    vocab = {c for c, t in zip(typed.columns, typed.types, strict=True) if str(t).startswith("ENUM")}
    assert vocab == {"purpose", "reasons", "jurisdiction", "legal_basis", "pack", "region_group"}
    write_decisions(con, typed, tmp_path / "typed.parquet")
    write_decisions(con, decide(con, pack, "genai_training", as_of), tmp_path / "plain.parquet")
    a, b = pq.read_table(tmp_path / "typed.parquet"), pq.read_table(tmp_path / "plain.parquet")
    assert a.num_rows > 1000 and a.schema == b.schema and a.equals(b)
    assert str(a.schema.field("jurisdiction").type) == "string"


@pytest.mark.parametrize("where", ["empty directory", "unknown member"])
def test_explain_an_unknown_member_is_one_line_exit_2(export: Path, tmp_path: Path, home: Path, where: str) -> None:
    """Before: exit 0 and "No member record", as if an id nobody has were a member to explain."""
    network = tmp_path / "empty" if where == "empty directory" else export
    network.mkdir(exist_ok=True)
    r = runner.invoke(app, ["explain", "--network", str(network), "--pack", "linkedin-2024", "--as-of", "2025-01-15",
                            "--raw", "--member", "nobody"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --member 'nobody'") and str(network) in lines[0]
    assert "No member record" not in r.output


def test_explain_gives_the_error_of_contradictory_member_rows(export: Path, home: Path) -> None:
    """Staging quarantines both rows of a member whose rows contradict each other; explain said
    "No member record" instead of the real reason."""
    import pyarrow as pa

    members = pq.read_table(export / "members.parquet")
    m2 = members.filter(pa.compute.equal(members.column("member_id"), "m2"))
    us = m2.set_column(m2.schema.get_field_index("residence_country"), "residence_country",
                       pa.array(["US"], members.schema.field("residence_country").type))
    pq.write_table(pa.concat_tables([us, members]), export / "members.parquet")
    base = ["explain", "--network", str(export), "--pack", "linkedin-2024", "--as-of", "2025-01-15", "--member", "m2"]
    r = runner.invoke(app, [*base, "--purpose", "genai_training"])
    assert r.exit_code == 0, r.output
    assert "No member record" not in r.output
    line = next(x for x in r.output.splitlines() if "Member record malformed" in x)
    assert "members.parquet row" in line and "contradictory duplicate member_id 'm2'" in line, line
    assert "1 excluded: malformed" in r.output
    js = runner.invoke(app, [*base, "--json"])
    issues = __import__("json").loads(js.output)["issues"]
    assert len(issues) == 1 and issues[0].startswith("members: ") and "members.parquet row" in issues[0]
