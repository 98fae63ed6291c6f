"""On a generated synthetic network: member mentions are found (issue 3: recall >= 0.99),
structured types match the injected truth, and `consentry redact eval` reports it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from consentry.redact import find_spans
from consentry.redact.evaluate import member_mentions, score
from consentry.vocab import PiiType

synth = pytest.importorskip("consentry.network.synth")


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    out = tmp_path_factory.mktemp("net") / "network"
    synth.generate(out, members=120, seed=3, progress=False)
    return out


def test_member_directory_recall_and_structured_truth(network):
    from consentry.redact.datasets import read_synth_network
    from consentry.redact.jsonl import load_directory

    examples = read_synth_network(network)
    assert examples and any(e.gold_members for e in examples)
    preds = find_spans([e.text for e in examples], directory=load_directory(network))
    n, found, attributed = member_mentions(examples, preds)
    assert n > 50
    assert found / n >= 0.99
    assert attributed / n >= 0.95
    structured = {PiiType.EMAIL, PiiType.PHONE, PiiType.URL, PiiType.IP_ADDRESS, PiiType.CREDIT_CARD,
                  PiiType.IBAN, PiiType.NATIONAL_ID}
    r = score([e.gold for e in examples], preds, structured)
    for t, prf in r["overlap"].items():
        assert prf.recall >= 0.98 and prf.precision >= 0.95, (t, prf.precision, prf.recall)


def test_cli_eval_on_network(network):
    from consentry.cli import app

    res = CliRunner().invoke(app, ["redact", "eval", "--data", str(network)], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    assert "synthetic_network" in res.output and "member mentions" in res.output
