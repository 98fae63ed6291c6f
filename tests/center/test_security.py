"""Security: no member can reach another's data, CSRF on every form, API keys,
separate admin credential, and no personal data in the server log."""

from __future__ import annotations

import logging

from .helpers import ADMIN_TOKEN, API_KEY, MEMBERS, NON_MEMBER_NAME, SECRET, csrf_of, sign_in

from consentry.center.auth import make_link_token

MEMBER_GET = ["/me", "/me/object", "/me/requests", "/me/export.json", "/me/timeline", "/me/history"]
MEMBER_POST = {
    "/me/choices": {"purpose": "genai_training", "choice": "opt_out"},
    "/me/object": {"purpose": "genai_training", "choice": "object"},
    "/me/erase": {"kind": "erase_ai_data"},
}
ID_PARAMS = ["member_id", "member", "id", "user_id"]


def test_member_get_with_other_id_refused(client):
    sign_in(client, "m_de")
    for path in MEMBER_GET:
        for param in ID_PARAMS:
            r = client.get(path, params={param: "m_us"})
            assert r.status_code == 403, (path, param)
            assert "Avery" not in r.text and "it_m_us" not in r.text
        assert client.get(path, params={"member_id": "m_de"}).status_code == 200  # naming oneself is fine


def test_member_post_with_other_id_refused(client, app):
    csrf = sign_in(client, "m_de")
    for path, fields in MEMBER_POST.items():
        for param in ID_PARAMS:
            data = {"csrf_token": csrf, "nonce": "sec-000001", param: "m_us", **fields}
            assert client.post(path, data=data).status_code == 403, (path, param)
            r = client.post(path, params={param: "m_us"}, data={**data, param: "m_de"})
            assert r.status_code == 403, (path, param)
    led = app.state.sources.ledger
    assert led.events_for("m_us") == [] and led.requests_for("m_us") == []
    assert led.events_for("m_de") == [] and led.requests_for("m_de") == []


def test_no_member_route_takes_an_id():
    from consentry.center import member

    paths = [r.path for r in member.router.routes]
    assert paths and all("{" not in p for p in paths)


def test_member_pages_need_sign_in(client):
    for path in MEMBER_GET:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
    for path, data in MEMBER_POST.items():
        assert client.post(path, data=data).status_code in (401, 403)


def test_member_forms_without_csrf_refused(client, app):
    sign_in(client, "m_us")
    for path, data in [*MEMBER_POST.items(), ("/signout", {})]:
        assert client.post(path, data={**data, "nonce": "nocsrf-01"}).status_code == 403, path
        r = client.post(path, data={**data, "csrf_token": "forged-token", "nonce": "nocsrf-02"})
        assert r.status_code == 403, path
    led = app.state.sources.ledger
    assert led.events_for("m_us") == [] and led.requests_for("m_us") == []
    assert client.get("/me").status_code == 200  # still signed in: signout was refused too


def test_public_forms_without_csrf_refused(client, app):
    client.get("/object")
    r = client.post("/object", data={"name": NON_MEMBER_NAME, "contact": "x@example.org"})
    assert r.status_code == 403
    assert app.state.sources.ledger.redaction_names() == []
    r = client.post("/admin/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 403


def test_csrf_token_is_bound_to_session(client, app):
    from fastapi.testclient import TestClient

    csrf_a = sign_in(client, "m_us")
    with TestClient(app) as other:
        sign_in(other, "m_de")
        r = other.post("/me/choices", data={"csrf_token": csrf_a, "purpose": "genai_training", "choice": "opt_out"})
        assert r.status_code == 403
    assert app.state.sources.ledger.events_for("m_de") == []


def test_api_needs_key(client):
    for method, path, body in [
        ("get", "/api/v1/members/m_us/choices", None),
        ("get", "/api/v1/members/m_us/decisions", None),
        ("post", "/api/v1/members/m_us/choices", {"purpose": "genai_training", "choice": "opt_out",
                                                  "client_request_id": "c-1"}),
    ]:
        assert getattr(client, method)(path, json=body).status_code == 401 if body else \
            getattr(client, method)(path).status_code == 401
        assert client.request(method.upper(), path, json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.request(method.upper(), path, json=body, headers={"X-API-Key": API_KEY}).status_code in (200, 201)


def test_api_key_in_session_does_not_help_and_member_session_is_not_api(client):
    sign_in(client, "m_us")
    assert client.get("/api/v1/members/m_us/choices").status_code == 401


def test_admin_separate_credential(client):
    sign_in(client, "m_us")
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    page = client.get("/admin/login")
    bad = client.post("/admin/login", data={"csrf_token": csrf_of(page.text), "token": "nope"})
    assert bad.status_code == 401
    good = client.post("/admin/login", data={"csrf_token": csrf_of(page.text), "token": ADMIN_TOKEN},
                       follow_redirects=False)
    assert good.status_code == 303
    assert client.get("/admin").status_code == 200
    # an admin session is not a member session
    assert client.get("/me", follow_redirects=False).status_code == 303


def test_no_personal_data_in_server_log(client, app, caplog):
    caplog.set_level(logging.DEBUG)
    token, _ = make_link_token(SECRET, "m_us")
    client.post("/signin", data={"token": token, "csrf_token": csrf_of(client.get("/signin", params={"token": token}).text)})
    csrf = csrf_of(client.get("/me", headers={"Sec-GPC": "1"}).text)
    client.post("/me/gpc", data={"csrf_token": csrf}, headers={"Sec-GPC": "1"})
    client.post("/me/choices", data={"csrf_token": csrf, "purpose": "genai_training", "choice": "opt_out"})
    client.post("/me/erase", data={"csrf_token": csrf, "kind": "erase_items", "item_ids": ["it_m_us_1"]})
    client.get("/me/export.json")
    client.get("/me/timeline")
    client.post("/object", data={"csrf_token": csrf, "name": NON_MEMBER_NAME, "contact": "bart@example.org"})
    client.post("/object", data={"csrf_token": csrf, "name": "x" * 500, "contact": "bart@example.org"})
    client.get("/me", params={"member_id": "m_de"})
    client.post("/api/v1/members/m_us/choices", headers={"X-API-Key": API_KEY},
                json={"purpose": "genai_training", "choice": "Avery Quinton", "client_request_id": "c"})
    assert [o["name"] for o in app.state.objections.listing("pending")] == [NON_MEMBER_NAME]
    # the server's log: every record but the test client's own (httpx logs the URLs it requests)
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records if not r.name.startswith("httpx"))
    assert "consentry.center.access" in text  # the log is there ...
    forbidden = [n for _, n, *_ in MEMBERS] + [h for *_, h in MEMBERS] + [
        NON_MEMBER_NAME, "bart@example.org", "Great meeting", "machine learning", token, API_KEY, ADMIN_TOKEN]
    for value in forbidden:  # ... and holds none of this
        assert value not in text, value
