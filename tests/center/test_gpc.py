"""Issue 19 part 3: GPC per the spec. The signal is read on every request; it is recorded
by a POST (the page's own, or the API's), once per purpose, for exactly the purposes
the pack marks `honour_gpc` (strict: all five; linkedin-2024: the two sharing
purposes), never as a side effect of a GET; /.well-known/gpc.json is served."""

from __future__ import annotations

from fastapi.testclient import TestClient

from consentry.center.app import create_app
from consentry.center.gpc import honoured_purposes
from consentry.policy.packs import load_pack

from .helpers import API_KEY, csrf_of, sign_in

GPC = {"Sec-GPC": "1"}
MEMBER_PAGES = ["/me", "/me/object", "/me/requests", "/me/export.json", "/me/timeline", "/me/history"]


def gpc_events(app, member):
    return sorted((e.purpose, e.choice) for e in app.state.sources.ledger.events_for(member) if e.source == "gpc")


def test_honoured_purposes_come_from_the_pack():
    assert honoured_purposes(load_pack("linkedin-2024")) == ["affiliate_sharing", "third_party_sharing"]
    assert set(honoured_purposes(load_pack("strict"))) == {
        "genai_training", "ml_personalization", "ml_safety", "affiliate_sharing", "third_party_sharing"}


def test_no_get_records_anything_and_every_member_page_shows_the_signal(client, app):
    sign_in(client, "m_us")
    for path in MEMBER_PAGES:
        r = client.get(path, headers=GPC)
        assert r.status_code == 200
        if path != "/me/export.json":
            assert "Your browser sends Global Privacy Control" in r.text and 'id="gpc-form"' in r.text, path
    assert gpc_events(app, "m_us") == []
    assert "Global Privacy Control" not in client.get("/me/history").text  # no header, no notice


def test_post_records_once_per_honoured_purpose(client, app):
    csrf = sign_in(client, "m_us")
    r = client.post("/me/gpc", data={"csrf_token": csrf}, headers={**GPC, "Accept": "application/json"})
    assert r.status_code == 200 and sorted(r.json()["recorded"]) == ["affiliate_sharing", "third_party_sharing"]
    again = client.post("/me/gpc", data={"csrf_token": csrf}, headers={**GPC, "Accept": "application/json"})
    assert again.json()["recorded"] == []
    assert gpc_events(app, "m_us") == [("affiliate_sharing", "opt_out"), ("third_party_sharing", "opt_out")]
    page = client.get("/me", headers=GPC).text
    assert 'id="gpc-form"' not in page and "recorded as an opt-out" in page
    views = {d["purpose"]: d for d in client.get("/me/export.json").json()["decisions"]}
    assert views["affiliate_sharing"]["used"] is False and views["genai_training"]["used"] is True


def test_post_without_the_header_or_csrf_records_nothing(client, app):
    csrf = sign_in(client, "m_us")
    assert client.post("/me/gpc", data={"csrf_token": csrf}).status_code == 400
    assert client.post("/me/gpc", data={}, headers=GPC).status_code == 403
    assert gpc_events(app, "m_us") == []


def test_strict_pack_honours_gpc_for_genai_training(center_env):
    settings, cs = center_env
    app = create_app(settings, cs.model_copy(update={"pack": "strict"}))
    with TestClient(app) as c:
        csrf = sign_in(c, "m_us")
        c.post("/me/gpc", data={"csrf_token": csrf}, headers=GPC)
    assert [p for p, _ in gpc_events(app, "m_us")] == sorted(
        ["genai_training", "ml_personalization", "ml_safety", "affiliate_sharing", "third_party_sharing"])


def test_api_records_source_gpc_once(client, app):
    r = client.post("/api/v1/members/m_de/gpc", headers={"X-API-Key": API_KEY})
    assert r.status_code == 200
    body = r.json()
    assert {(c["purpose"], c["choice"], c["source"], c["created"]) for c in body} == {
        ("affiliate_sharing", "opt_out", "gpc", True), ("third_party_sharing", "opt_out", "gpc", True)}
    again = client.post("/api/v1/members/m_de/gpc", headers={"X-API-Key": API_KEY}).json()
    assert [c["created"] for c in again] == [False, False]
    assert [c["event_id"] for c in again] == [c["event_id"] for c in body]
    assert len(gpc_events(app, "m_de")) == 2
    assert client.post("/api/v1/members/nobody/gpc", headers={"X-API-Key": API_KEY}).status_code == 404
    assert client.post("/api/v1/members/m_de/gpc").status_code == 401


def test_page_and_api_share_the_once_per_purpose_record(client, app):
    client.post("/api/v1/members/m_us/gpc", headers={"X-API-Key": API_KEY})
    sign_in(client, "m_us")
    page = client.get("/me", headers=GPC).text
    assert 'id="gpc-form"' not in page
    assert csrf_of(page) and len(gpc_events(app, "m_us")) == 2


def test_well_known_gpc_json(client):
    r = client.get("/.well-known/gpc.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json()["gpc"] is True and len(r.json()["lastUpdate"]) == 10
