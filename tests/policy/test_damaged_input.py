"""Missing is unknown, unknown is excluded: damaged exports never let more data train.

Each damage below once made `consentry decide` exit 0 and allow items that the clean
export excludes (and `snapshot build` include them): a consent table without its
`choice` column or absent altogether (opted-out items allowed), members without
`birth_date` (minors allowed), contradictory member rows with a US copy placed first
(region-prohibited items allowed). Now a needed table or column that is absent stops
the run with one line naming the file and the column, and a member whose rows
contradict each other has every item excluded as `malformed`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from consentry.cli import app
from consentry.network import reader, synth, views
from consentry.policy.decide import decide
from consentry.policy.packs import load_pack
from consentry.policy.requirements import MissingInputError, needs

EEA = ["DE", "FR", "IT", "NL", "ES", "PL", "IE", "AT", "BE", "SE"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("net") / "clean"
    synth.generate(out, members=120, seed=11, progress=False)
    return out


def decisions(export: Path, tmp: Path, as_of: str, pack: str = "linkedin-2024") -> dict[str, dict]:
    staged = reader.stage_export(export, tmp / "staged", progress=False)
    con = duckdb.connect()
    views.register(con, staged.dest)
    rows = decide(con, load_pack(pack), "genai_training", as_of).to_arrow_table().to_pylist()
    return {r["item_id"]: r for r in rows}


def damaged(clean: Path, tmp: Path, damage: Callable[[Path], None]) -> Path:
    out = tmp / "damaged"
    shutil.copytree(clean, out)
    damage(out)
    return out


def drop_column(table: str, column: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        t = pq.read_table(d / f"{table}.parquet")
        pq.write_table(t.drop_columns([column]), d / f"{table}.parquet")
    return damage


def remove_table(table: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        (d / f"{table}.parquet").unlink()
    return damage


def retype_column(table: str, column: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        t = pq.read_table(d / f"{table}.parquet")
        i = t.schema.get_field_index(column)
        pq.write_table(t.set_column(i, column, pa.array(range(t.num_rows), pa.int64())), d / f"{table}.parquet")
    return damage


# (damage, the reason the clean export excludes the items it let through, what the error names)
MISSING = [
    pytest.param(drop_column("consent_events", "choice"), "opted_out", "consent_events.parquet: column choice",
                 id="consent without choice"),
    pytest.param(remove_table("consent_events"), "opted_out", "table consent_events is absent",
                 id="no consent table"),
    pytest.param(drop_column("members", "birth_date"), "minor", "members.parquet: column birth_date",
                 id="members without birth_date"),
    pytest.param(retype_column("members", "birth_date"), "minor", "members.parquet: column birth_date is of type int64",
                 id="birth_date of the wrong type"),
    pytest.param(remove_table("requests"), "erased", "table requests is absent", id="no requests table"),
]


@pytest.mark.parametrize(("damage", "reason", "named"), MISSING)
def test_a_needed_input_that_is_missing_stops_decide(clean, tmp_path, damage, reason, named) -> None:
    before = decisions(clean, tmp_path / "c", "2025-12-01")
    assert any(reason in r["reasons"] for r in before.values())  # the damage would matter
    export = damaged(clean, tmp_path, damage)
    with pytest.raises(MissingInputError) as err:
        decisions(export, tmp_path / "d", "2025-12-01")
    msg = str(err.value)
    assert named in msg and "linkedin-2024@2025-11-03 needs it for genai_training" in msg and "\n" not in msg


@pytest.mark.parametrize(("damage", "reason", "named"), MISSING[:3])
def test_decide_command_refuses_and_writes_nothing(clean, tmp_path, home, damage, reason, named) -> None:
    export = damaged(clean, tmp_path, damage)
    out = tmp_path / "d.parquet"
    r = CliRunner().invoke(app, ["decide", "--network", str(export), "--pack", "linkedin-2024",
                                 "--as-of", "2025-12-01", "--out", str(out), "-q"])
    assert r.exit_code != 0
    assert named in r.output.replace("\n", "") or named in str(r.exception)
    assert not out.exists()


def test_read_raw_a_missing_table_is_refused_too(clean, tmp_path, home) -> None:
    """`decide --raw` reads the files without staging: a table with no file is not registered,
    and an unregistered needed table is refused rather than stood in by an empty one."""
    export = damaged(clean, tmp_path, remove_table("requests"))
    out = tmp_path / "d.parquet"
    r = CliRunner().invoke(app, ["decide", "--network", str(export), "--pack", "strict", "--as-of", "2025-12-01",
                                 "--out", str(out), "-q", "--raw"])
    assert r.exit_code != 0 and not out.exists()
    assert "table requests is absent" in r.output.replace("\n", "") + str(r.exception)


def test_an_input_no_rule_reads_may_be_missing(clean, tmp_path) -> None:
    """linkedin-2024 gives every group the same genai_training rule from 2025-11-03: sign-in
    countries cannot change a decision, so an export without sign-ins still decides."""
    pack = load_pack("linkedin-2024")
    assert "signins" not in {n.table for n in needs(pack, "genai_training", "2025-12-01")}
    assert "signins" in {n.table for n in needs(pack, "genai_training", "2025-01-01")}
    export = damaged(clean, tmp_path, remove_table("signins"))
    assert decisions(export, tmp_path / "d", "2025-12-01") == decisions(clean, tmp_path / "c", "2025-12-01")
    with pytest.raises(MissingInputError, match="table signins is absent"):
        decisions(export, tmp_path / "e", "2025-01-01")


def us_copies_first(d: Path) -> list[str]:
    """Copies of the EEA residents with residence US, placed before the real rows."""
    m = pq.read_table(d / "members.parquet")
    eea = m.filter(pc.is_in(m["residence_country"], pa.array(EEA)))
    fake = eea.set_column(eea.schema.get_field_index("residence_country"), "residence_country",
                          pa.array(["US"] * eea.num_rows))
    pq.write_table(pa.concat_tables([fake, m]), d / "members.parquet")
    return eea.column("member_id").to_pylist()


def test_contradictory_member_rows_exclude_every_item_of_the_member(clean, tmp_path) -> None:
    as_of = "2025-01-01"  # EEA prohibited under linkedin-2024
    before = decisions(clean, tmp_path / "c", as_of)
    holder: list[str] = []
    export = damaged(clean, tmp_path, lambda d: holder.extend(us_copies_first(d)))
    after = decisions(export, tmp_path / "d", as_of)
    assert holder and set(after) == set(before)
    widened = [k for k, r in after.items() if r["allowed"] and not before[k]["allowed"]]
    assert widened == []
    theirs = [r for r in after.values() if r["member_id"] in set(holder)]
    assert theirs and all(not r["allowed"] and "malformed" in r["reasons"] for r in theirs)
    assert any("region_prohibited" in before[r["item_id"]]["reasons"] for r in theirs)
    others = {k: r for k, r in after.items() if r["member_id"] not in set(holder)}
    assert others == {k: before[k] for k in others}  # nobody else is touched


def test_a_quarantined_opt_out_excludes_the_member(clean, tmp_path) -> None:
    """An opt-out that cannot be read is not 'no opt-out': its member's items are malformed."""
    before = decisions(clean, tmp_path / "c", "2025-12-01")
    ev = pq.read_table(clean / "consent_events.parquet").to_pylist()
    k = next(i for i, e in enumerate(ev) if e["choice"] == "opt_out" and e["purpose"] == "genai_training"
             and any(r["member_id"] == e["member_id"] and "opted_out" in r["reasons"] for r in before.values()))
    member = ev[k]["member_id"]
    rows = [{**e, "at": e["at"].isoformat()} for e in ev]
    rows[k]["at"] = "last tuesday"

    def damage(d: Path) -> None:
        (d / "consent_events.parquet").unlink()
        import json
        (d / "consent_events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    after = decisions(damaged(clean, tmp_path, damage), tmp_path / "d", "2025-12-01")
    theirs = [r for r in after.values() if r["member_id"] == member]
    assert theirs and all(not r["allowed"] and "malformed" in r["reasons"] for r in theirs)
    assert not [k for k, r in after.items() if r["allowed"] and not before[k]["allowed"]]


def test_snapshot_build_stops_or_excludes_alike(clean, tmp_path, monkeypatch) -> None:
    """`snapshot build` stages the same way: a missing needed column stops it before anything
    is published; contradictory member rows keep that member's items out of the data."""
    from consentry.snapshots.build import build_snapshot

    def published(root: Path) -> list[Path]:
        return sorted(root.glob("genai_training/*/lineage.parquet"))

    monkeypatch.setenv("CONSENTRY_REDACTION_KEY", "test-key")
    export = damaged(clean, tmp_path, drop_column("consent_events", "choice"))
    with pytest.raises(MissingInputError, match="consent_events.parquet: column choice"):
        build_snapshot(export, "linkedin-2024", "genai_training", "2025-12-01", tmp_path / "snaps", workers=1)
    assert published(tmp_path / "snaps") == []
    dup = tmp_path / "dup"
    shutil.copytree(clean, dup)
    holder = us_copies_first(dup)
    build_snapshot(dup, "linkedin-2024", "genai_training", "2025-01-01", tmp_path / "snaps2", workers=1)
    [lineage] = published(tmp_path / "snaps2")
    members = set(pq.read_table(lineage).column("member_id").to_pylist())
    assert members and not members & set(holder)


def test_invalid_utf8_in_items_jsonl_is_quarantined_and_the_build_goes_on(clean, tmp_path, monkeypatch) -> None:
    """Before: `network validate` said nothing was quarantined, then `snapshot build` failed
    on the bytes and the whole run was lost."""
    import json

    from consentry.snapshots.build import build_snapshot

    monkeypatch.setenv("CONSENTRY_REDACTION_KEY", "test-key")
    before = decisions(clean, tmp_path / "c", "2025-12-01")
    items = pq.read_table(clean / "items.parquet").to_pylist()
    k = next(i for i, it in enumerate(items) if before[it["item_id"]]["allowed"] and it["text"])
    lines = [json.dumps(it, default=str).encode() for it in items]
    lines[k] = lines[k].replace(b'"text": "', b'"text": "\xff\xfe', 1)

    def damage(d: Path) -> None:
        (d / "items.parquet").unlink()
        (d / "items.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    export = damaged(clean, tmp_path, damage)
    r = CliRunner().invoke(app, ["network", "validate", str(export), "-q"])
    assert r.exit_code == 0 and "no rows quarantined" not in r.output and "invalid UTF-8" in r.output
    build_snapshot(export, "linkedin-2024", "genai_training", "2025-12-01", tmp_path / "snaps", workers=1)
    [version] = [p.parent for p in (tmp_path / "snaps").glob("genai_training/*/lineage.parquet")]
    quarantined = [json.loads(x) for x in (version / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["file"], q["row"], q["field"]) for q in quarantined] == [("items.jsonl", k, "text")]
    lineage = set(pq.read_table(version / "lineage.parquet").column("item_id").to_pylist())
    assert items[k]["item_id"] not in lineage and len(lineage) > 0
