"""`consentry redact explain`: why each span was found, and why a word was not."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from consentry.redact import find_spans
from consentry.redact.explain import explain, reads
from consentry.redact.person import detect_person, operating_threshold
from consentry.vocab import PiiType

TEXT = "Yesterday I met Wolfgang Munchau in Berlin. Munchau argued for it; mail ana@example.com"


def test_explained_spans_are_the_spans_the_redactor_keeps():
    for thr in (None, operating_threshold("high_recall")):
        ex = explain(TEXT, person_threshold=thr)
        assert ex.spans == find_spans([TEXT], person_threshold=thr)[0]
        found = {(c.start, c.end) for c in ex.candidates if c.found}
        assert found == {(t.start, t.end) for s in detect_person(TEXT, thr)
                         for t in ex.candidates if s.start <= t.start and t.end <= s.end}


def test_each_candidate_logit_is_the_sum_of_its_feature_weights():
    ex = explain(TEXT, top=1000)
    assert ex.candidates
    for c in ex.candidates:
        assert c.logit == pytest.approx(sum(r.weight for r in c.reasons), abs=1e-3)
        assert c.model == pytest.approx(1 / (1 + math.exp(-c.logit)), abs=1e-3)
    heaviest = explain(TEXT, top=3).candidates[0].reasons
    assert len(heaviest) == 3 and abs(heaviest[0].weight) >= abs(heaviest[-1].weight)


def test_a_score_raised_above_the_model_says_why():
    by_word = {}
    for c in explain(TEXT).candidates:
        by_word.setdefault(c.word, []).append(c)
    first, repeat = by_word["Munchau"]
    assert first.found and first.score > first.model and "Wolfgang" in first.evidence
    assert repeat.found and "repeats" in repeat.evidence
    assert not by_word["Berlin"][0].found and by_word["Berlin"][0].evidence == ""
    tag = explain("Independent autopsy shows #MichaelBrown was shot").candidates
    assert [c.evidence for c in tag if c.word == "#MichaelBrown"] == ["a hashtag spelling a first name and a surname"]


def test_features_read_in_words():
    assert reads("p1fn=3") == "previous word's first-name list rank = 3"
    assert reads("cw+sh=FalseXx") == "common word + shape = FalseXx"
    assert reads("b") == "bias"


def test_cli_explains_a_text_or_a_line_of_a_file(tmp_path):
    from consentry.cli import app

    runner = CliRunner(env={"COLUMNS": "300"})  # errors and tables unwrapped
    res = runner.invoke(app, ["redact", "explain", TEXT, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {s["type"] for s in out["spans"]} == {str(PiiType.PERSON), str(PiiType.EMAIL)}
    assert out["person_threshold"] == operating_threshold("balanced")

    inp = tmp_path / "texts.jsonl"
    inp.write_text("not json\n" + json.dumps({"id": 7, "text": TEXT}) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["redact", "explain", "--in", str(inp), "--id", "7"])
    assert res.exit_code == 0, res.output
    assert "Munchau" in res.output and "repeats a word of a name" in res.output

    res = runner.invoke(app, ["redact", "explain", "--in", str(inp), "--id", "8"])
    assert res.exit_code == 2 and "no line with id '8'" in res.output and "rows 1" in res.output
    res = runner.invoke(app, ["redact", "explain"])
    assert res.exit_code == 2 and "give one of: the text" in res.output


def test_cli_explains_an_item_of_an_export_as_a_pack_would_redact_it(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from consentry.cli import app

    net = tmp_path / "net"
    net.mkdir()
    pq.write_table(pa.table({"member_id": ["m1"], "display_name": ["Ana Kowalczyk"]}), net / "members.parquet")
    pq.write_table(pa.table({"item_id": ["i1", "i2"], "text": ["Thanks Ana Kowalczyk and Wolfgang Munchau!", None]}),
                   net / "items.parquet")
    runner = CliRunner(env={"COLUMNS": "300"})
    res = runner.invoke(app, ["redact", "explain", "--network", str(net), "--item", "i1", "--json", "--pack", "strict"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["text"].startswith("Thanks Ana")
    assert out["person_threshold"] == operating_threshold("high_recall")  # the strict pack's point
    assert [s.get("member_id") for s in out["spans"]] == ["m1", None]  # the export's members are the directory

    res = runner.invoke(app, ["redact", "explain", "--network", str(net), "--item", "i2"])
    assert res.exit_code == 0 and "has no text" in res.output
    res = runner.invoke(app, ["redact", "explain", "--network", str(net), "--item", "i9"])
    assert res.exit_code == 2 and "no item with item_id 'i9'" in res.output
    res = runner.invoke(app, ["redact", "explain", "--network", str(net), "--item", "i1", "--pack", "strict",
                              "--as-of", "1990-01-01"])
    assert res.exit_code == 2 and "no version of strict is in force" in res.output

    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    (jsonl / "items.jsonl").write_text('{"item_id": "i1", "text": "Hi Wolfgang Munchau"}\nnot json i1\n', encoding="utf-8")
    res = runner.invoke(app, ["redact", "explain", "--network", str(jsonl), "--item", "i1", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["text"] == "Hi Wolfgang Munchau"
