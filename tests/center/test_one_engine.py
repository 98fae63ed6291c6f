"""One decision engine: the center, the API, `decide` and `explain` answer from the same plan
over the export plus the ledger, on SQLite and on the real PostgreSQL.

Defects this pins (each failed before):
- the API told members with an erasure request, and members with no residence (judged by
  their sign-in country instead of failing closed), that genai_training used their data,
  while the plan excluded every item of theirs;
- `consentry explain` (and `decide`) read only the export: a member who opted out in the
  center was still "N of M items allowed".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from consentry.center.app import create_app
from consentry.cli import app as cli
from consentry.network import schema

from .helpers import API_KEY, NOW, sign_in

H = {"X-API-Key": API_KEY}
runner = CliRunner()


def _append(path, rows, sch) -> None:
    old = pq.read_table(path).to_pylist() if path.exists() else []
    pq.write_table(pa.Table.from_pylist(old + rows, schema=sch), path)


@pytest.fixture(params=["sqlite", "postgresql"])
def center(request: pytest.FixtureRequest, center_env):
    """The test export plus m_er (a US adult who asked for erasure of AI data, in the export)
    and m_nores (no residence, signs in from the US): both excluded by the plan."""
    settings, cs = center_env
    net = settings.home / "network"
    joined = datetime(2020, 1, 1, tzinfo=UTC)
    _append(net / "members.parquet", [
        {"member_id": m, "display_name": m, "residence_country": c, "birth_date": datetime(1980, 1, 1).date(),
         "joined_at": joined, "closed_at": None, "is_member": True, "handle": m}
        for m, c in (("m_er", "US"), ("m_nores", None))], schema.MEMBERS)
    _append(net / "items.parquet", [
        {"item_id": f"it_{m}", "member_id": m, "kind": "post", "visibility": "public",
         "created_at": datetime(2025, 2, 1, tzinfo=UTC), "deleted_at": None, "text": "Shipping pipelines.",
         "mentions": [], "group_sensitive": False} for m in ("m_er", "m_nores")], schema.ITEMS)
    _append(net / "signins.parquet", [{"member_id": m, "ip": "8.8.8.8", "at": NOW} for m in ("m_er", "m_nores")],
            schema.SIGNINS)
    req = schema.TABLES["requests"]
    row = {f.name: None for f in req}
    row.update(request_id="rq-er-1", member_id="m_er", kind="erase_ai_data", at=datetime(2025, 3, 1, tzinfo=UTC))
    pq.write_table(pa.Table.from_pylist([row], schema=req), net / "requests.parquet")
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    app = create_app(settings.model_copy(update={"ledger_url": url}), cs)
    with TestClient(app) as client:
        yield client, url


def _api(client, member: str) -> dict[str, dict]:
    r = client.get(f"/api/v1/members/{member}/decisions", headers=H)
    assert r.status_code == 200, r.text
    return {d["purpose"]: d for d in r.json()}


def _explain(member: str, ledger_url: str | None) -> dict[str, dict]:
    at = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    args = ["explain", "--pack", "linkedin-2024", "--as-of", at, "--member", member, "--json"]
    r = runner.invoke(cli, args + (["--ledger-url", ledger_url] if ledger_url else []))
    assert r.exit_code == 0, r.output
    return {p["purpose"]: p for p in json.loads(r.stdout)["purposes"]}


def test_erasure_request_and_missing_residence_are_not_used(center):
    client, url = center
    er = _api(client, "m_er")["genai_training"]
    assert er["used"] is False and "erased" in er["reasons"]
    nores = _api(client, "m_nores")["genai_training"]
    assert nores["used"] is False and "unknown_jurisdiction" in nores["reasons"]
    for member, reason in (("m_er", "erased"), ("m_nores", "unknown_jurisdiction")):  # decide/explain agree
        g = _explain(member, url)["genai_training"]
        assert (g["used"], g["allowed"], g["items"]) == (False, 0, 1) and reason in g["member_reasons"]
    assert _api(client, "m_us")["genai_training"]["used"] is True  # an ordinary member still is


def test_explain_and_decide_see_an_opt_out_made_in_the_center(center, home, tmp_path):
    client, url = center
    before = _explain("m_us", url)["genai_training"]
    assert before["used"] is True and before["allowed"] == 2  # the public post and article
    csrf = sign_in(client, "m_us")
    r = client.post("/me/choices", data={"csrf_token": csrf, "purpose": "genai_training",
                                         "choice": "opt_out", "nonce": "optout-0001"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    after = _explain("m_us", url)["genai_training"]
    assert after["used"] is False and after["allowed"] == 0 and "opted_out" in after["member_reasons"]
    assert after["reasons"]["opted_out"] == after["items"] == 3
    assert _api(client, "m_us")["genai_training"]["used"] is False
    out = tmp_path / "d.parquet"
    at = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    args = ["decide", "--pack", "linkedin-2024", "--as-of", at, "--out", str(out), "-q"]
    r = runner.invoke(cli, args + (["--ledger-url", url] if url else []))
    assert r.exit_code == 0, r.output
    rows = [d for d in pq.read_table(out).to_pylist() if d["member_id"] == "m_us"]
    assert rows and not any(d["allowed"] for d in rows) and all("opted_out" in d["reasons"] for d in rows)
    r = runner.invoke(cli, args + ["--no-ledger"])  # the export alone does not know of it
    assert r.exit_code == 0, r.output
    assert any(d["allowed"] for d in pq.read_table(out).to_pylist() if d["member_id"] == "m_us")


def test_an_export_that_cannot_be_read_uses_nothing(center):
    """Fail closed: with signins.parquet unreadable the plan cannot judge jurisdiction: nothing is used."""
    client, _ = center
    assert _api(client, "m_us")["genai_training"]["used"] is True
    signins = client.app.state.sources.settings.network / "signins.parquet"
    signins.write_bytes(b"PAR1 not a parquet file")
    got = _api(client, "m_us")
    assert not any(d["used"] for d in got.values()) and got["genai_training"]["reasons"] == ["malformed"], got
