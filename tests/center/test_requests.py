"""Requests end: filed through the API and the CLI, exports fulfilled into the bundle the member
page offers, admins act on any open request, none overdue after `forget --pending` and
`requests process`; ml_safety objections recorded, with the pack's reason when not honoured."""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from consentry.cli import app as cli

from .helpers import API_KEY, csrf_of, sign_in
from .test_admin import admin_login

H = {"X-API-Key": API_KEY}
OLD = datetime(2020, 1, 1, tzinfo=UTC)


def run(*args: str) -> str:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def test_api_files_erasure_and_export_with_legal_deadline(client):
    r = client.post("/api/v1/members/m_de/requests", headers=H,
                    json={"kind": "erase_items", "item_ids": ["it_m_de_1"], "client_request_id": "c1"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["kind"] == "erase_items" and body["status"] == "pending" and body["created"] is True
    at, due = datetime.fromisoformat(body["at"]), datetime.fromisoformat(body["deadline"])
    assert 28 <= (due - at).days <= 31  # GDPR: one calendar month
    again = client.post("/api/v1/members/m_de/requests", headers=H,
                        json={"kind": "erase_items", "item_ids": ["it_m_de_1"], "client_request_id": "c1"})
    assert again.status_code == 201 and again.json()["created"] is False
    assert again.json()["request_id"] == body["request_id"]
    assert client.post("/api/v1/members/m_us/requests", headers=H,
                       json={"kind": "export", "client_request_id": "c2"}).status_code == 201
    foreign = client.post("/api/v1/members/m_de/requests", headers=H,
                          json={"kind": "erase_items", "item_ids": ["it_m_us_1"], "client_request_id": "c3"})
    assert foreign.status_code == 404 and "not this member's" in foreign.text
    assert client.post("/api/v1/members/m_de/requests", headers=H,
                       json={"kind": "export", "item_ids": ["it_m_de_1"], "client_request_id": "c4"}).status_code == 422
    assert client.post("/api/v1/members/nobody/requests", headers=H,
                       json={"kind": "export", "client_request_id": "c5"}).status_code == 404
    assert client.post("/api/v1/members/m_de/requests", json={"kind": "export", "client_request_id": "c6"}).status_code == 401
    listed = client.get("/api/v1/members/m_de/requests", headers=H).json()
    assert [x["kind"] for x in listed] == ["erase_items"]


def test_cli_files_and_process_fulfils_export(client, app):
    src = app.state.sources
    run("request", "erase", "m_de", "--scope", "account", "--client-request-id", "k1")
    out = run("request", "export", "m_us", "--client-request-id", "k2")
    assert "answer due" in out
    assert "nothing new" in run("request", "export", "m_us", "--client-request-id", "k2")
    assert [r.kind for r in src.ledger.requests_for("m_de")] == ["erase_account"]
    bad = CliRunner().invoke(cli, ["request", "erase", "m_de", "--item", "it_m_us_1"])
    assert bad.exit_code == 2 and "not this member's items" in bad.output
    (export_req,) = src.ledger.requests_for("m_us")
    assert client.get(f"/api/v1/members/m_us/requests/{export_req.request_id}/bundle", headers=H).status_code == 404
    out = run("requests", "process")
    assert "1 export request(s) processed" in out
    rec = src.ledger.request(export_req.request_id)
    assert rec.status == "processed" and rec.processed_at is not None
    path = app.state.settings.home / rec.result["bundle"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    bundle = json.loads(path.read_text())
    # the same document the member page offers
    sign_in(client, "m_us")
    page_doc = client.get("/me/export.json").json()
    assert set(bundle) == set(page_doc) and bundle["format"] == page_doc["format"]
    assert bundle["items"] == page_doc["items"] and bundle["profile"] == page_doc["profile"]
    # made available to the member on their requests page, and to no one else
    page = client.get("/me/requests").text
    link = re.search(r'href="(/me/requests/export\.json\?request=[^"]+)"', page).group(1)
    got = client.get(link.replace("&amp;", "&"))
    assert got.status_code == 200 and json.loads(got.content) == bundle
    assert client.get(f"/api/v1/members/m_us/requests/{export_req.request_id}/bundle", headers=H).content == got.content
    sign_in(client, "m_de")
    assert client.get(link.replace("&amp;", "&")).status_code == 404
    # the erasure stays open for `forget`; no bundle is written while the member's account erasure is pending
    run("request", "export", "m_de", "--client-request-id", "k3")
    assert "held: an account erasure of this member is pending" in run("requests", "process")
    assert [r["kind"] for r in json.loads(run("requests", "list", "--json"))] == ["erase_account", "export"]
    assert not (app.state.settings.home / "exports" / "m_de").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_none_overdue_after_forget_and_process(backend, center_env, request, monkeypatch):
    from fastapi.testclient import TestClient

    from consentry.center.app import create_app
    from consentry.ledger.store import Ledger

    settings, cs = center_env
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("CONSENTRY_LEDGER_URL", url)
        settings = settings.model_copy(update={"ledger_url": url})
    led = Ledger(settings.ledger).create()
    led.append_request("m_us", "export", OLD, client_request_id="old-export")
    led.append_request("m_de", "erase_ai_data", OLD, client_request_id="old-erase")
    led.append_request("m_vpn", "erase_items", OLD, ["it_m_vpn_1"], client_request_id="old-items")
    with TestClient(create_app(settings, cs, ledger=led)) as c:
        admin_login(c)
        dash = c.get("/admin").text
        assert 'data-overdue="3"' in dash
        run("forget", "--pending", "--no-retrain")
        run("requests", "process")
        dash = c.get("/admin").text
        assert 'data-open="0"' in dash and 'data-overdue="0"' in dash
        assert "No open requests." in c.get("/admin/requests").text
    assert {r.status for r in [*led.requests_for("m_us"), *led.requests_for("m_de"), *led.requests_for("m_vpn")]} == {"processed"}


def test_admin_acts_on_any_open_request(client, app):
    led = app.state.sources.ledger
    exp = led.append_request("m_us", "export", OLD, client_request_id="a1")
    era = led.append_request("m_de", "erase_ai_data", OLD, client_request_id="a2")
    odd = led.append_request("m_vpn", "export", OLD, client_request_id="a3")
    admin_login(client)
    page = client.get("/admin/requests").text
    for r in (exp, era, odd):
        assert f'/admin/requests/{r.request_id}/' in page
    csrf = csrf_of(page)
    assert client.post(f"/admin/requests/{exp.request_id}/fulfil", data={"csrf_token": csrf}).status_code == 200
    assert led.request(exp.request_id).status == "processed"
    assert client.post(f"/admin/requests/{era.request_id}/erase", data={"csrf_token": csrf}).status_code == 200
    assert led.request(era.request_id).status == "processed"  # the forgetting workflow closed it
    r = client.post(f"/admin/requests/{odd.request_id}/refuse",
                    data={"csrf_token": csrf, "reason": "Identity could not be verified", "nonce": "n12345678"})
    assert r.status_code == 200
    rec = led.request(odd.request_id)
    assert rec.status == "refused" and rec.result["reason"] == "Identity could not be verified"
    assert "No open requests." in client.get("/admin/requests").text
    assert client.post(f"/admin/requests/{odd.request_id}/fulfil", data={"csrf_token": csrf}).status_code == 404
    sign_in(client, "m_vpn")
    assert "Identity could not be verified" in client.get("/me/requests").text


def test_admin_request_actions_need_admin_and_csrf(client, app):
    exp = app.state.sources.ledger.append_request("m_us", "export", OLD, client_request_id="b1")
    r = client.post(f"/admin/requests/{exp.request_id}/fulfil", data={}, follow_redirects=False)
    assert r.status_code in (303, 401, 403)
    admin_login(client)
    assert client.post(f"/admin/requests/{exp.request_id}/fulfil", data={"csrf_token": "x"}).status_code == 403
    assert app.state.sources.ledger.request(exp.request_id).status == "pending"


def test_ml_safety_objection_recorded_with_pack_reason(client, app):
    from consentry.policy.packs import load_pack

    sign_in(client, "m_us")
    assert 'data-purpose="ml_safety"' in client.get("/me").text
    form = client.get("/me/object").text
    assert 'value="ml_safety"' in form
    r = client.post("/me/object", data={"csrf_token": csrf_of(form), "purpose": "ml_safety", "choice": "object",
                                        "nonce": "n-object-1"})
    assert r.status_code == 200
    events = app.state.sources.ledger.events_for("m_us")
    assert [(e.purpose, e.choice) for e in events] == [("ml_safety", "object")]
    reason = load_pack("linkedin-2024").versions[-1].purposes["ml_safety"].objection_reason
    assert reason and reason in r.text  # the flash after the objection
    card = re.search(r'<section class="card"[^>]*data-purpose="ml_safety".*?</section>', client.get("/me").text, re.DOTALL).group(0)
    assert "does not honour objections" in card and reason in card and "Your data is used" in card


def test_ml_safety_objection_honoured_where_the_pack_says(center_env, monkeypatch):
    from fastapi.testclient import TestClient

    from consentry.center.app import create_app

    settings, cs = center_env
    with TestClient(create_app(settings, cs.model_copy(update={"pack": "strict"}))) as c:
        sign_in(c, "m_us")
        assert c.post("/api/v1/members/m_us/choices", headers=H,
                      json={"purpose": "ml_safety", "choice": "object", "client_request_id": "o1"}).status_code == 201
        card = re.search(r'<section class="card"[^>]*data-purpose="ml_safety".*?</section>', c.get("/me").text, re.DOTALL).group(0)
        assert "Your data is not used" in card and "You objected" in card
        dec = {d["purpose"]: d for d in c.get("/api/v1/members/m_us/decisions", headers=H).json()}
        assert dec["ml_safety"]["used"] is False and "objected" in dec["ml_safety"]["reasons"]


def test_cli_object_to_ml_safety(app):
    out = run("request", "object", "m_us", "--purpose", "ml_safety", "--client-request-id", "x1")
    assert "recorded" in out
    assert [(e.purpose, e.choice, e.source) for e in app.state.sources.ledger.events_for("m_us")] == [
        ("ml_safety", "object", "api")]
    bad = CliRunner().invoke(cli, ["request", "object", "m_us", "--purpose", "nope"])
    assert bad.exit_code == 2 and "purpose" in bad.output


def test_consentry_explain_gives_the_pack_reason_for_an_unhonoured_objection():
    """One truth: `consentry explain` says what the member page says about an ml_safety objection."""
    from consentry.policy.explain import explain_member
    from consentry.policy.packs import load_pack
    from tests.policy.policynet import Net

    net = Net()
    net.member(residence_country="US")
    net.item(item_id="post")
    net.event("m1", "ml_safety", "object", "2025-12-01")
    e = explain_member(net.tables(), "linkedin-2024", "m1", "2025-12-15", "ml_safety")
    (p,) = e.purposes
    assert p.allowed == 1 and [(ev.choice, ev.counted) for ev in p.events] == [("object", False)]
    assert load_pack("linkedin-2024").versions[-1].purposes["ml_safety"].objection_reason in e.text()


def test_a_failed_request_stays_open_and_overdue(client, app):
    """A run that failed answered nothing: the request is listed, counted overdue, and can be retried."""
    led = app.state.sources.ledger
    rec = led.append_request("m_us", "export", OLD, client_request_id="f1")
    led.mark_processed(rec.request_id, {"error": "disk full"}, client_request_id="f1-run", status="failed")
    admin_login(client)
    assert 'data-overdue="1"' in client.get("/admin").text
    page = client.get("/admin/requests").text
    assert "failed: run it again" in page
    assert client.post(f"/admin/requests/{rec.request_id}/fulfil", data={"csrf_token": csrf_of(page)}).status_code == 200
    assert led.request(rec.request_id).status == "processed"
    assert 'data-overdue="0"' in client.get("/admin").text


def test_process_marks_an_unwritable_bundle_failed_and_retries_it(client, app):
    led = app.state.sources.ledger
    rec = led.append_request("m_us", "export", OLD, client_request_id="w1")
    blocker = app.state.settings.home / "exports" / "m_us"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")  # the bundle's folder cannot be made
    assert "failed, bundle not written" in run("requests", "process")
    assert led.request(rec.request_id).status == "failed"
    blocker.unlink()
    assert "processed" in run("requests", "process")
    assert led.request(rec.request_id).status == "processed"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_conflicting_request_retry_gets_409_with_the_recorded_request(backend, center_env, request, monkeypatch):
    from fastapi.testclient import TestClient

    from consentry.center.app import create_app
    from consentry.ledger.store import Ledger

    settings, cs = center_env
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("CONSENTRY_LEDGER_URL", url)
        settings = settings.model_copy(update={"ledger_url": url})
    led = Ledger(settings.ledger).create()
    with TestClient(create_app(settings, cs, ledger=led)) as c:
        first = c.post("/api/v1/members/m_de/requests", headers=H, json={"kind": "export", "client_request_id": "k1"})
        assert first.status_code == 201, first.text
        retry = c.post("/api/v1/members/m_de/requests", headers=H,
                       json={"kind": "erase_account", "client_request_id": "k1"})
        assert retry.status_code == 409, retry.text
        body = retry.json()
        assert set(body) == {"detail", "recorded"} and "k1" in body["detail"] and "kind" in body["detail"]
        recorded = body["recorded"]
        assert recorded["request_id"] == first.json()["request_id"]
        assert recorded["kind"] == "export" and recorded["created"] is False
        assert [r["kind"] for r in c.get("/api/v1/members/m_de/requests", headers=H).json()] == ["export"]
        spec = c.get("/openapi.json").json()["paths"]["/api/v1/members/{member_id}/requests"]["post"]
        schema = spec["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert set(c.get("/openapi.json").json()["components"]["schemas"][schema]["properties"]) == {"detail",
                                                                                                    "recorded"}
    led.close()
