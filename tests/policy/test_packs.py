"""Pack loading: the shipped packs, version selection, and errors that name file, line, field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from consentry.policy.packs import DEFAULT_GROUP, PackError, list_packs, load_pack
from consentry.vocab import Purpose, Rule

VALID = """\
name: tiny
versions:
  - version: "1"
    effective_from: 2024-01-01
    groups:
      eu: [DE, FR]
    purposes:
      genai_training:
        rules:
          eu: {rule: prohibited, legal_basis: none}
          rest_of_world: {rule: opt_out, legal_basis: "dpv:LegitimateInterest"}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pack.yaml"
    p.write_text(text)
    return p


def test_shipped_packs() -> None:
    assert {"linkedin-2024", "strict"} <= set(list_packs())
    li = load_pack("linkedin-2024")
    assert [str(v.effective_from) for v in li.versions] == [
        "2024-09-18", "2024-09-20", "2024-10-11", "2024-12-10", "2025-11-03"]
    assert li.version_at("2024-09-17T23:59:59Z") is None
    assert li.version_at(dt.datetime(2024, 9, 18, tzinfo=dt.UTC)).version == "2024-09-18"
    assert li.version_at("2030-01-01").version == "2025-11-03"
    eea = li.versions[0].groups["eea_ch"]
    assert {"DE", "FR", "NO", "IS", "LI", "CH"} <= set(eea) and len(eea) == 31
    assert "GB" not in eea


def test_linkedin_settings_in_every_version() -> None:
    for v in load_pack("linkedin-2024").versions:
        assert v.min_age == 18 and not v.exclude_unknown_age and v.signin_lookback_days == 30
        assert v.propagation.value == "forward_only" and v.notice_period_days is None
        assert {k.value for k in v.excluded_kinds} == {
            "message", "inmail", "salary", "payment", "credential", "job_application"}
        assert v.purposes[Purpose.AFFILIATE_SHARING].honour_gpc
        assert not v.purposes[Purpose.GENAI_TRAINING].honour_gpc
        assert v.rule_for("ml_personalization", "eea_ch").rule is Rule.OPT_OUT


def test_unlisted_country_falls_into_rest_of_world_and_unknown_code_into_none() -> None:
    v = load_pack("linkedin-2024").versions[0]
    assert v.group_of("BR") == DEFAULT_GROUP
    assert v.group_of("XX") is None and v.group_of(None) is None


def test_load_by_path(tmp_path: Path) -> None:
    p = load_pack(write(tmp_path, VALID))
    assert p.name == "tiny" and p.versions[0].rule_for("genai_training", "eu").rule is Rule.PROHIBITED
    assert p.versions[0].shards == 16  # default


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("{rule: prohibited, legal_basis: none}", "{rule: forbidden, legal_basis: none}", 10,
         "versions.0.purposes.genai_training.rules.eu.rule"),
        ("effective_from: 2024-01-01", "effective_from: someday", 4, "versions.0.effective_from"),
        ("[DE, FR]", "[DE, FRANCE]", 6, "versions.0.groups"),
        ("genai_training:", "genai_trainin:", 8, "versions.0.purposes.genai_trainin"),
        ("  - version: \"1\"\n", "  - version: \"1\"\n    min_age: -3\n", 4, "versions.0.min_age"),
    ],
)
def test_invalid_pack_names_file_line_and_field(tmp_path: Path, old: str, new: str, line: int, field: str) -> None:
    p = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(PackError) as err:
        load_pack(p)
    e = err.value
    assert (e.file, e.field) == (str(p.resolve()), field)
    assert e.line == line
    assert str(e).startswith(f"{p.resolve()}:{line}: {field}: ")


def test_country_in_two_groups(tmp_path: Path) -> None:
    p = write(tmp_path, VALID.replace("eu: [DE, FR]", "eu: [DE, FR]\n      fr: [FR]"))
    with pytest.raises(PackError, match="FR is in both"):
        load_pack(p)


def test_rule_needs_rest_of_world(tmp_path: Path) -> None:
    text = VALID.replace('          rest_of_world: {rule: opt_out, legal_basis: "dpv:LegitimateInterest"}\n', "")
    with pytest.raises(PackError, match="rest_of_world") as err:
        load_pack(write(tmp_path, text))
    assert err.value.line is not None


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(PackError) as err:
        load_pack(write(tmp_path, VALID.replace("groups:", "groups: [")))
    assert err.value.line is not None and err.value.field == "<yaml>"


def test_versions_must_be_ordered(tmp_path: Path) -> None:
    second = VALID.split("versions:\n")[1].replace('"1"', '"0"').replace("2024-01-01", "2023-01-01")
    with pytest.raises(PackError, match="increasing"):
        load_pack(write(tmp_path, VALID + second))


def test_unknown_pack_name() -> None:
    with pytest.raises(PackError, match="unknown pack"):
        load_pack("no-such-pack")


def test_repeated_key_is_refused_with_its_line(tmp_path: Path) -> None:
    """`min_age: 18` then `min_age: 0`: YAML keeps the last value, which would admit minors."""
    p = write(tmp_path, VALID.replace('  - version: "1"\n', '  - version: "1"\n    min_age: 18\n    min_age: 0\n'))
    with pytest.raises(PackError) as err:
        load_pack(p)
    e = err.value
    assert (e.line, e.field) == (5, "versions.0.min_age")
    assert "duplicate key 'min_age' (first at line 4)" in str(e)
    assert str(e).startswith(f"{p.resolve()}:5: versions.0.min_age: ")


def test_repeated_key_in_a_shipped_pack_anchor_is_refused(tmp_path: Path) -> None:
    from consentry.policy.packs import _packs_dir

    text = _packs_dir().joinpath("linkedin-2024.yaml").read_text()
    assert text.count("  min_age: 18\n") == 1
    p = write(tmp_path, text.replace("  min_age: 18\n", "  min_age: 18\n  min_age: 0\n"))
    with pytest.raises(PackError, match=r"x-common\.min_age: duplicate key 'min_age'"):
        load_pack(p)


def test_merged_key_may_be_overridden(tmp_path: Path) -> None:
    text = "x-base: &base\n  min_age: 18\n" + VALID.replace('  - version: "1"\n', '  - version: "1"\n    <<: *base\n    min_age: 21\n')
    assert load_pack(write(tmp_path, text)).versions[0].min_age == 21


@pytest.mark.parametrize(("where", "line", "field"), [
    ('  - version: "1"\n', 4, "versions.0.min_agee"),
    ("name: tiny\n", 2, "colour"),
])
def test_unknown_key_is_refused_with_its_line(tmp_path: Path, where: str, line: int, field: str) -> None:
    extra = "    min_agee: 0\n" if "version" in where else "colour: blue\n"
    p = write(tmp_path, VALID.replace(where, where + extra))
    with pytest.raises(PackError) as err:
        load_pack(p)
    assert (err.value.line, err.value.field) == (line, field)
    assert "Extra inputs are not permitted" in err.value.message
