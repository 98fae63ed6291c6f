"""PERSON operating points: the pack picks how much precision it trades for name recall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consentry.cli import app
from consentry.policy.packs import PackError, load_pack
from consentry.redact import find_spans
from consentry.redact.person import OPERATING_POINTS, _shipped, operating_threshold
from consentry.snapshots.inputs import redact_config
from consentry.vocab import PiiType

TEXTS = [
    "Great chat with Dzeko and Radebe after the match, thanks Ana Silva for hosting",
    "so proud of my colleague priya menon for the promotion!",
    "Lohan and Evra were at the launch with Wolfgang Munchau of the FT",
    "Meeting notes from the Berlin offsite, shared by Tomasz",
]


def _names(threshold: float) -> list[list[tuple[int, int]]]:
    spans = find_spans(TEXTS, types=[PiiType.PERSON], person_threshold=threshold)
    return [[(s.start, s.end) for s in row] for row in spans]


def test_both_points_ship_with_the_model_and_high_recall_is_lower() -> None:
    shipped = _shipped()
    assert set(shipped["operating_points"]) == set(OPERATING_POINTS)
    assert operating_threshold("balanced") == shipped["threshold"]
    assert operating_threshold("high_recall") < operating_threshold("balanced")
    assert shipped["peer"]["cv_precision"] > 0  # the floor it was chosen against is recorded
    with pytest.raises(ValueError, match="balanced, high_recall"):
        operating_threshold("max")


def test_a_model_without_a_point_refuses_it_instead_of_answering_another(monkeypatch) -> None:
    from consentry.redact import person

    trained_without_peer = {"weights": {"b": 0.0}, "threshold": 0.3, "operating_points": {"balanced": 0.3}}
    monkeypatch.setattr(person, "_shipped", lambda: trained_without_peer)
    assert person.operating_threshold("balanced") == 0.3
    with pytest.raises(ValueError, match="no 'high_recall' operating point .*has: balanced"):
        person.operating_threshold("high_recall")


def test_high_recall_finds_every_name_balanced_finds_and_more() -> None:
    balanced, high = _names(operating_threshold("balanced")), _names(operating_threshold("high_recall"))
    for b_row, h_row in zip(balanced, high, strict=True):
        assert all(any(hs <= bs and be <= he for hs, he in h_row) for bs, be in b_row)
    assert sum(map(len, high)) >= sum(map(len, balanced))
    assert sum(e - s for row in high for s, e in row) > sum(e - s for row in balanced for s, e in row)


def test_packs_pick_their_point() -> None:
    strict = load_pack("strict").versions[-1]
    linkedin = load_pack("linkedin-2024").versions[-1]
    assert strict.redaction.person_operating_point == "high_recall"
    assert redact_config(strict).person_threshold == operating_threshold("high_recall")
    assert redact_config(linkedin).person_threshold == operating_threshold("balanced")


def test_an_unknown_point_in_a_pack_is_named(tmp_path: Path) -> None:
    src = Path(load_pack.__code__.co_filename).parent / "packs" / "strict.yaml"
    bad = tmp_path / "strict.yaml"
    bad.write_text(src.read_text().replace("person_operating_point: high_recall", "person_operating_point: max"))
    with pytest.raises(PackError, match="person_operating_point"):
        load_pack(bad)


def test_cli_takes_the_point(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    runner = CliRunner()
    counts = {}
    for point in OPERATING_POINTS:
        out = tmp_path / f"{point}.jsonl"
        res = runner.invoke(app, ["redact", "find", "--in", str(inp), "--out", str(out), "--person", point])
        assert res.exit_code == 0, res.output
        counts[point] = sum(len(json.loads(line)["spans"]) for line in out.read_text().splitlines())
    assert counts["high_recall"] >= counts["balanced"] > 0
    res = runner.invoke(app, ["redact", "find", "--in", str(inp), "--out", str(tmp_path / "x.jsonl"), "--person", "max"])
    assert res.exit_code == 2 and "--person" in res.output


def test_points_are_read_off_the_cross_validated_curve() -> None:
    from consentry.redact.evaluate import PRF
    from consentry.redact.train_person import operating_points

    # threshold -> (precision, recall) as pooled counts over 100 gold names
    curve = {t: PRF(tp_pred=int(p * 100), n_pred=100, tp_gold=int(r * 100), n_gold=100)
             for t, p, r in [(0.1, 0.30, 0.90), (0.2, 0.45, 0.85), (0.3, 0.60, 0.80), (0.5, 0.80, 0.60)]}
    assert operating_points(curve, peer_precision=0.40) == {"balanced": 0.3, "high_recall": 0.2}
    assert operating_points(curve, peer_precision=0.25)["high_recall"] == 0.1
    assert "high_recall" not in operating_points(curve, peer_precision=0.9)  # no threshold is that precise
    assert "high_recall" not in operating_points(curve, peer_precision=None)
