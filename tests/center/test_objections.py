"""Issue 19 part 2: a non-member objection cannot be abused. A "name" that is a skill, a
job title, a company or common words is refused with a reason; a real name is held and
changes no redaction until an admin confirms it; rejecting records nothing; either way
the held name and contact are cleared."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from consentry.center.objections import refusal
from consentry.policy.packs import load_pack

from .helpers import ADMIN_TOKEN, NON_MEMBER_NAME, csrf_of

PACK = load_pack("linkedin-2024")


@pytest.mark.parametrize("name,why", [
    ("Data Engineer", "common words"),  # the example
    ("Data Scientist", "job title"),
    ("technical director", "job title"),
    ("Machine Learning", "skill"),
    ("machine   learning", "skill"),
    ("Acme Analytics", "company"),
    ("Python", "skill"),
    ("Great Meeting", "common words"),
    ("Data", "common words"),
    ("the and", "common words"),
    ("bob@example.org", "digits"),
    ("R2D2", "digits"),
    ("---", "your name"),
])
def test_not_a_name_is_refused_with_reason(name, why):
    reason = refusal(name, PACK)
    assert reason is not None and why in reason


@pytest.mark.parametrize("name", [NON_MEMBER_NAME, "Zorblax Quenteroo", "Mark Hunter", "Rose Baker", "Greta Vogelsang",
                                  "Avery Quinton", "José Ñúñez", "Siobhán O'Neill"])
def test_real_names_are_accepted(name):
    assert refusal(name, PACK) is None


def submit(client: TestClient, name: str, contact: str = "x@example.org", nonce: str = "nm-000001"):
    csrf = csrf_of(client.get("/object").text)
    return client.post("/object", data={"csrf_token": csrf, "name": name, "contact": contact, "nonce": nonce})


def test_refused_names_change_nothing(client, app):
    for i, name in enumerate(["Data Engineer", "Machine Learning"]):
        r = submit(client, name, nonce=f"nm-00000{i}")
        assert r.status_code == 422 and "cannot accept this name" in r.text
    assert app.state.objections.listing("pending") == []
    assert app.state.sources.ledger.redaction_names() == []


def admin(app) -> tuple[TestClient, str]:
    c = TestClient(app)
    page = c.get("/admin/login")
    c.post("/admin/login", data={"csrf_token": csrf_of(page.text), "token": ADMIN_TOKEN})
    return c, csrf_of(c.get("/admin/objections").text)


def test_objection_is_held_until_an_admin_confirms(client, app):
    r = submit(client, f"  {NON_MEMBER_NAME} ", "b@example.org")
    assert r.status_code == 200 and "Once an administrator has confirmed it" in r.text
    assert submit(client, NON_MEMBER_NAME, "b@example.org").status_code == 200  # a resubmitted form
    led = app.state.sources.ledger
    assert led.redaction_names() == []  # nothing redacted yet
    held = app.state.objections.listing("pending")
    assert [(o["name"], o["contact"]) for o in held] == [(NON_MEMBER_NAME, "b@example.org")]
    adm, csrf = admin(app)
    page = adm.get("/admin/objections").text
    assert NON_MEMBER_NAME in page and "b@example.org" in page and "Confirm" in page
    oid = held[0]["objection_id"]
    assert adm.post(f"/admin/objections/{oid}", data={"csrf_token": csrf, "action": "confirm"}).status_code == 200
    assert [(n.name, n.contact) for n in led.redaction_names()] == [(NON_MEMBER_NAME, "b@example.org")]
    assert app.state.objections.listing("pending") == []
    decided = app.state.objections.get(oid)
    assert decided["status"] == "confirmed" and decided["name"] is None and decided["contact"] is None
    # deciding again records nothing more
    adm.post(f"/admin/objections/{oid}", data={"csrf_token": csrf, "action": "confirm"})
    assert len(led.redaction_names()) == 1


def test_rejected_objection_records_nothing_and_forgets_the_name(client, app):
    submit(client, "Zorblax Quenteroo", "z@example.org")
    oid = app.state.objections.listing("pending")[0]["objection_id"]
    adm, csrf = admin(app)
    adm.post(f"/admin/objections/{oid}", data={"csrf_token": csrf, "action": "reject"})
    assert app.state.sources.ledger.redaction_names() == []
    got = app.state.objections.get(oid)
    assert got["status"] == "rejected" and got["name"] is None and got["contact"] is None
    assert "Zorblax" not in adm.get("/admin/objections").text


def test_only_admins_decide(client, app):
    submit(client, "Zorblax Quenteroo")
    oid = app.state.objections.listing("pending")[0]["objection_id"]
    csrf = csrf_of(client.get("/object").text)
    r = client.post(f"/admin/objections/{oid}", data={"csrf_token": csrf, "action": "confirm"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    assert client.get("/admin/objections", follow_redirects=False).status_code == 303
    assert app.state.sources.ledger.redaction_names() == []


def test_held_then_confirmed_on_postgresql(home, pg_url):
    """The held objection and the confirmed redaction name live in the PostgreSQL ledger database."""
    from consentry.center.app import create_app
    from consentry.center.config import CenterSettings
    from consentry.settings import Settings

    from .helpers import API_KEY, SECRET, write_export

    write_export(home / "network")
    app = create_app(Settings(home=home, ledger_url=pg_url),
                     CenterSettings(secret_key=SECRET, admin_token=ADMIN_TOKEN, api_keys=API_KEY,
                                    public_url="http://testserver"))
    with TestClient(app) as c:
        assert submit(c, "Zorblax Quenteroo", "z@example.org").status_code == 200
        assert submit(c, "Machine Learning").status_code == 422
    with app.state.objections.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name, status FROM center_objections").all() == [
            ("Zorblax Quenteroo", "pending")]
    assert app.state.sources.ledger.redaction_names() == []
    adm, csrf = admin(app)
    oid = app.state.objections.listing("pending")[0]["objection_id"]
    adm.post(f"/admin/objections/{oid}", data={"csrf_token": csrf, "action": "confirm"})
    assert [n.name for n in app.state.sources.ledger.redaction_names()] == ["Zorblax Quenteroo"]
    with app.state.objections.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name, contact, status FROM center_objections").all() == [
            (None, None, "confirmed")]
