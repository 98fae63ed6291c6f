"""Allowed terms (skills, companies): PERSON guesses inside one are kept; nothing else is."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from consentry.redact import MemberDirectory, RedactConfig, Redactor
from consentry.redact.allow import AllowList, read_terms
from consentry.redact.spans import Span
from consentry.vocab import PiiType

SKILLS = ("Spark", "Rust", "Pied Piper Labs")
TEXT = "At Pied Piper Labs we think Spark is overrated and Rust is not."


def person_texts(r: Redactor, text: str) -> list[str]:
    return [text[s.start:s.end] for s in r.spans(text) if s.type is PiiType.PERSON]


def test_person_guesses_inside_an_allowed_term_are_kept():
    plain = person_texts(Redactor(RedactConfig()), TEXT)
    assert {"Spark", "Rust", "Pied Piper"} <= set(plain)  # what the list is for
    assert person_texts(Redactor(RedactConfig(allow_terms=SKILLS)), TEXT) == []


def test_only_whole_terms_in_any_case_are_allowed():
    occ = AllowList(["Rust"]).occurrences("RUST, rusty Rustacean, #Rust")
    assert occ == [(0, 4), (24, 28)]
    r = Redactor(RedactConfig(allow_terms=("Rust",)))
    tag = "Learning #Rust with Ana Silva"
    guesses = [Span(9, 14, PiiType.PERSON, 0.4), Span(20, 29, PiiType.PERSON, 0.9)]  # "#Rust" as a hashtag name
    assert AllowList(["Rust"]).drop_allowed(tag, guesses) == guesses[1:]
    assert person_texts(r, "I met Rusty Jones in Leeds.") == ["Rusty Jones"]


def test_members_always_redact_names_and_structured_data_are_redacted_whatever_the_list_says():
    members = pa.table({"member_id": ["m1"], "display_name": ["Ana Spark"]})
    cfg = RedactConfig(allow_terms=("Ana Spark", "Zygmunt Qwerty", "ana@example.com"),
                       always_redact=("Zygmunt Qwerty",), max_pii_density=None)
    r = Redactor(cfg, MemberDirectory.from_members(members))
    text, _, _ = r.redact_text("Ana Spark and Zygmunt Qwerty wrote from ana@example.com")
    assert text == "[PERSON] and [PERSON] wrote from [EMAIL]"


def test_pack_terms_reach_the_snapshot_redactor():
    from consentry.policy.packs import load_pack
    from consentry.snapshots.inputs import redact_config

    version = load_pack("linkedin-2024").versions[-1]
    assert redact_config(version).allow_terms == ()
    with_terms = version.model_copy(update={"redaction": version.redaction.model_copy(update={"allow_terms": ["Spark"]})})
    assert redact_config(with_terms).allow_terms == ("Spark",)


def test_allow_file_and_cli(tmp_path):
    from consentry.cli import app

    terms = tmp_path / "allow.txt"
    terms.write_text("# skills\nSpark\n\n  Rust  \nPied Piper Labs\n", encoding="utf-8")
    assert read_terms(terms) == SKILLS
    inp = tmp_path / "texts.jsonl"
    inp.write_text(json.dumps({"id": 1, "text": TEXT}) + "\n", encoding="utf-8")
    out = tmp_path / "spans.jsonl"
    runner = CliRunner(env={"COLUMNS": "300"})
    res = runner.invoke(app, ["redact", "find", "--in", str(inp), "--out", str(out), "--allow", str(terms)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["spans"] == []
    res = runner.invoke(app, ["redact", "explain", TEXT, "--allow", str(terms)])
    assert res.exit_code == 0 and "inside an allowed term" in res.output

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Spark\n\xff\n")
    res = runner.invoke(app, ["redact", "find", "--in", str(inp), "--out", str(out), "--allow", str(bad)])
    assert res.exit_code == 2 and "bad.txt: not UTF-8" in res.output


@pytest.mark.parametrize("terms", [(), ("Spark",)])
def test_an_allow_list_pickles_with_the_redactor(terms):
    import pickle

    r = Redactor(RedactConfig(allow_terms=terms))
    assert pickle.loads(pickle.dumps(r)).spans(TEXT) == r.spans(TEXT)
