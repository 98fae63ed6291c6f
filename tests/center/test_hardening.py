"""Issue 19 part 1: sessions end at sign-out and at a new sign-in, login CSRF is closed,
no guessable signing key, trusted hosts, CSP, no-store, request-size limit, rate limits,
405 Allow and the API's 400 in OpenAPI. Sessions are also checked on the real
PostgreSQL, shared by two server processes (two apps)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from consentry.center.app import create_app
from consentry.center.auth import make_link_token
from consentry.center.config import CenterSettings, SecretError, create_secret
from consentry.settings import Settings

from .helpers import (
    ADMIN_TOKEN,
    API_KEY,
    NON_MEMBER_NAME,
    SECRET,
    csrf_of,
    post_signin,
    sign_in,
    write_export,
)


def admin_sign_in(client: TestClient) -> str:
    page = client.get("/admin/login")
    r = client.post("/admin/login", data={"csrf_token": csrf_of(page.text), "token": ADMIN_TOKEN},
                    follow_redirects=False)
    assert r.status_code == 303
    return csrf_of(client.get("/admin").text)


# ------------------------------------------------------------------ sessions
def test_copied_member_cookie_is_dead_after_signout(client, app):
    csrf = sign_in(client, "m_us")
    copied = client.cookies.get("consentry_session")
    assert copied and "m_us" not in copied  # an id, not the state
    assert client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with TestClient(app, cookies={"consentry_session": copied}) as thief:
        r = thief.get("/me", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert thief.get("/me/export.json", follow_redirects=False).status_code == 303


def test_copied_admin_cookie_is_dead_after_signout(client, app):
    csrf = admin_sign_in(client)
    copied = client.cookies.get("consentry_session")
    client.post("/signout", data={"csrf_token": csrf})
    with TestClient(app, cookies={"consentry_session": copied}) as thief:
        r = thief.get("/admin/requests", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/login"


def test_new_sign_in_ends_earlier_sessions_and_changes_the_id(client, app):
    sign_in(client, "m_us")
    first = client.cookies.get("consentry_session")
    with TestClient(app) as other:
        pre = other.get("/object") and other.cookies.get("consentry_session")  # a pre-sign-in session
        sign_in(other, "m_us")
        assert other.cookies.get("consentry_session") not in (first, pre)  # no session fixation
        assert other.get("/me").status_code == 200
    assert client.get("/me", follow_redirects=False).status_code == 303  # the earlier one ended
    assert app.state.sessions.count("member:m_us") == 1


def test_session_state_is_not_in_the_cookie_and_a_forged_id_is_nobody(client, app):
    sign_in(client, "m_us")
    with TestClient(app, cookies={"consentry_session": "x" * 43}) as c:
        assert c.get("/me", follow_redirects=False).status_code == 303


def test_sessions_shared_and_revoked_across_processes_on_postgresql(home, pg_url):
    """Two apps (as two uvicorn workers) on one PostgreSQL ledger: a session made by one
    opens pages on the other, and a sign-out on one ends it on both."""
    write_export(home / "network")
    settings = Settings(home=home, ledger_url=pg_url)
    cs = CenterSettings(secret_key=SECRET, admin_token=ADMIN_TOKEN, api_keys=API_KEY, public_url="http://testserver")
    a, b = create_app(settings, cs), create_app(settings, cs)
    with TestClient(a) as ca, TestClient(b) as cb:
        csrf = sign_in(ca, "m_de")
        cb.cookies.set("consentry_session", ca.cookies.get("consentry_session"))
        assert cb.get("/me").status_code == 200
        ca.post("/signout", data={"csrf_token": csrf})
        assert cb.get("/me", follow_redirects=False).status_code == 303
    with a.state.sessions.engine.connect() as conn:  # the ledger database holds only the id's hash
        rows = conn.exec_driver_sql("SELECT sid_hash, owner FROM center_sessions").all()
    assert all(len(h) == 64 for h, _ in rows) and not any(o == "member:m_de" for _, o in rows)


# ------------------------------------------------------------------ login CSRF
def test_login_csrf_attackers_link_is_refused(client, app):
    """An attacker's page posts the attacker's own sign-in link from the victim's browser:
    no pre-session token (the victim's cookie is not sent cross-site), or a foreign Origin."""
    attacker_token, _ = make_link_token(SECRET, "m_kid")
    r = client.post("/signin", data={"token": attacker_token}, follow_redirects=False)
    assert r.status_code == 403
    csrf = csrf_of(client.get("/object").text)  # even with the victim's own token ...
    r = client.post("/signin", data={"token": attacker_token, "csrf_token": csrf},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403  # ... another site's form is refused
    assert client.get("/me", follow_redirects=False).status_code == 303  # nobody signed in
    ok = post_signin(client, attacker_token, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert ok.status_code == 303  # the link itself was not used up by the refused tries


def test_member_form_from_another_origin_refused(client, app):
    csrf = sign_in(client, "m_us")
    r = client.post("/me/choices", data={"csrf_token": csrf, "purpose": "genai_training", "choice": "opt_out"},
                    headers={"Origin": "null"})
    assert r.status_code == 403
    assert app.state.sources.ledger.events_for("m_us") == []


# ------------------------------------------------------------------ signing key
@pytest.mark.parametrize("content", [None, "", "   \n", "short-key"])
def test_create_app_refuses_missing_empty_or_short_secret(center_env, content):
    settings, cs = center_env
    path = settings.home / "center_secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SecretError, match="consentry center-secret"):
        create_app(settings, cs.model_copy(update={"secret_key": None}))


def test_serve_refuses_empty_secret_in_one_line(home):
    (home / "center_secret").write_text("")
    r = subprocess.run([sys.executable, "-c", "from consentry.cli import main; main()", "serve", "--port", "1"],
                       capture_output=True, text=True, timeout=120, check=False, env={**__import__("os").environ,
                                                                          "CONSENTRY_HOME": str(home)})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "is empty" in r.stderr and "consentry center-secret" in r.stderr
    assert "Traceback" not in r.stderr


def test_center_secret_creates_once_and_replaces_an_empty_file(home):
    settings = Settings(home=home)
    (home / "center_secret").write_text("")
    path, created = create_secret(settings)
    assert created and (path.stat().st_mode & 0o777) == 0o600
    key = path.read_text()
    assert len(key) >= 32 and CenterSettings(secret_key=None).signing_key(settings) == key
    assert create_secret(settings) == (path, False) and path.read_text() == key
    assert [p.name for p in home.iterdir()] == ["center_secret"]  # no temporary file left


# ------------------------------------------------------------------ hosts, headers, size
def test_foreign_host_is_refused_and_links_do_not_use_it(client):
    r = client.get("/me", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 400 and "evil.example" not in r.headers.get("location", "")
    sign_in(client, "m_us")
    page = client.get("/me").text
    assert "testserver" not in page and "evil.example" not in page  # links are relative
    assert client.get("/me/", follow_redirects=False).status_code == 404  # no Host-built slash redirect


def test_csp_without_inline_script_on_every_page(client):
    sign_in(client, "m_us")
    for path in ["/", "/object", "/me", "/me/timeline", "/admin/login", "/nope"]:
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path  # every script is a file
        assert " on" + "click=" not in r.text


def test_no_store_on_member_and_admin_pages(client):
    sign_in(client, "m_us")
    for path in ["/me", "/me/history", "/me/requests", "/me/timeline", "/me/export.json"]:
        assert client.get(path).headers["cache-control"] == "no-store", path
    with TestClient(client.app) as adm:
        admin_sign_in(adm)
        for path in ["/admin", "/admin/requests", "/admin/audit", "/admin/objections"]:
            assert adm.get(path).headers["cache-control"] == "no-store", path
    assert "no-store" not in client.get("/static/center.css").headers.get("cache-control", "")


def test_request_size_limit(client, app):
    csrf = csrf_of(client.get("/object").text)
    big = b"x" * (30 * 1024 * 1024)
    r = client.post("/object", data={"csrf_token": csrf, "name": NON_MEMBER_NAME, "contact": "a@example.org"},
                    files={"upload": ("big.bin", big)})
    assert r.status_code == 413
    r = client.post("/api/v1/members/m_us/choices", headers={"X-API-Key": API_KEY},
                    content=b'{"purpose": "' + b"a" * 100_000 + b'"}')
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(200):
            yield b"y" * 1024

    r = client.post("/api/v1/members/m_us/choices", headers={"X-API-Key": API_KEY,
                                                            "Content-Type": "application/json"}, content=chunks())
    assert r.status_code == 413
    assert app.state.objections.listing("pending") == []


# ------------------------------------------------------------------ rate limits
def test_objection_form_rate_limited_with_retry_after(client, app):
    csrf = csrf_of(client.get("/object").text)
    codes = [client.post("/object", data={"csrf_token": csrf, "name": f"Quentin Zarobi{'x' * i}",
                                          "contact": "q@example.org", "nonce": f"rl-{i:06d}"}).status_code
             for i in range(8)]
    assert codes == [200] * 5 + [429] * 3  # default 5/hour per address
    r = client.post("/object", data={"csrf_token": csrf, "name": "Quentin Zarobi", "contact": "q@example.org"})
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 3600
    assert len(app.state.objections.listing("pending")) == 5


def test_admin_login_locked_after_wrong_tokens_even_for_the_right_one(client):
    csrf = csrf_of(client.get("/admin/login").text)
    codes = [client.post("/admin/login", data={"csrf_token": csrf, "token": f"wrong-{i}"}).status_code
             for i in range(40)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    r = client.post("/admin/login", data={"csrf_token": csrf, "token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_signin_rate_limit_from_settings(center_env):
    settings, cs = center_env
    app = create_app(settings, cs.model_copy(update={"rate_signin": "2/minute"}))
    with TestClient(app) as c:
        codes = [post_signin(c, "not-a-token").status_code for _ in range(3)]
        assert codes == [400, 400, 429]


def test_bad_rate_limit_setting_is_one_clear_error():
    with pytest.raises(ValueError, match="rate_signin"):
        CenterSettings(rate_signin="lots")


# ------------------------------------------------------------------ 405 and OpenAPI
def test_405_allow_names_every_method(client):
    r = client.put("/api/v1/members/m_us/choices", headers={"X-API-Key": API_KEY})
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    r = client.delete("/object")
    assert r.status_code == 405 and {"GET", "POST"} <= {m.strip() for m in r.headers["allow"].split(",")}


def test_openapi_declares_the_400_for_invalid_utf8(client):
    r = client.post("/api/v1/members/m_us/choices", headers={"X-API-Key": API_KEY,
                                                            "Content-Type": "application/json"},
                    content=b'{"purpose": "\xff\xfe"}')
    assert r.status_code == 400
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "400" in op["responses"], (method, path)


def test_a_page_without_a_form_starts_no_session(client, app):
    r = client.get("/")
    assert "consentry_session" not in r.headers.get("set-cookie", "")
    assert "consentry_session" in client.get("/object").headers.get("set-cookie", "")  # a form: a pre-session


def test_an_odd_cookie_beside_ours_does_not_sign_out(client):
    sign_in(client, "m_us")
    sid = client.cookies.get("consentry_session")
    r = client.get("/me", headers={"Cookie": f'other="a\\"b; c; consentry_session={sid}; x=1'},
                   follow_redirects=False)
    assert r.status_code == 200
