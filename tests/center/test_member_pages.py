"""Member pages: choices with receipts, objections, erasure, export, GPC, explanations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from .helpers import sign_in

from consentry.center import explain
from consentry.center.sources import Sources
from consentry.policy.packs import load_pack


def ledger_of(app):
    return app.state.sources.ledger


def test_turning_genai_off_records_event_with_receipt(client, app):
    csrf = sign_in(client, "m_us")
    me = client.get("/me").text
    assert "Training generative AI" in me and "Your data is used" in me
    r = client.post("/me/choices", data={"csrf_token": csrf, "purpose": "genai_training", "choice": "opt_out",
                                          "nonce": "nonce-0001"})
    assert r.status_code == 200
    events = ledger_of(app).events_for("m_us")
    assert [(e.purpose, e.choice, e.source) for e in events] == [("genai_training", "opt_out", "settings")]
    receipt = events[0].receipt
    assert receipt["subject_id"] == "m_us" and receipt["choice"] == "opt_out"
    assert receipt["receipt_id"] in r.text  # the receipt is shown back
    # a resubmission of the same form (double click) records nothing new
    client.post("/me/choices", data={"csrf_token": csrf, "purpose": "genai_training", "choice": "opt_out",
                                     "nonce": "nonce-0001"})
    assert len(ledger_of(app).events_for("m_us")) == 1
    history = client.get("/me/history").text
    assert receipt["receipt_id"][:8] in history
    export = client.get("/me/export.json").json()
    assert export["member_id"] == "m_us"
    assert [c["receipt"]["receipt_id"] for c in export["choices"]] == [receipt["receipt_id"]]
    genai = next(d for d in export["decisions"] if d["purpose"] == "genai_training")
    assert genai["used"] is False and genai["reasons"] == ["opted_out"]
    assert "You turned off" in client.get("/me/timeline").text


def test_export_holds_own_profile_items_only(client):
    sign_in(client, "m_de")
    doc = client.get("/me/export.json")
    assert doc.headers["content-disposition"].startswith("attachment")
    data = doc.json()
    assert data["profile"]["member_id"] == "m_de"
    assert {i["item_id"] for i in data["items"]} == {"it_m_de_1", "it_m_de_2", "it_m_de_3"}
    assert "m_us" not in json.dumps(data)


def test_eea_member_sees_region_rule(client, center_env):
    sign_in(client, "m_de")
    page = client.get("/me").text
    assert "European Economic Area" in page
    pack = load_pack("linkedin-2024")
    src = Sources(center_env[0])
    profile = src.profile("m_de")
    before = {v.purpose: v for v in explain.purpose_views(pack, src, "m_de", profile, [],
                                                            now=datetime(2025, 1, 15, tzinfo=UTC))}
    assert before["genai_training"].used is False and before["genai_training"].reasons == ["region_prohibited"]
    assert "is not allowed at all in the European Economic Area" in before["genai_training"].lines[0]
    after = {v.purpose: v for v in explain.purpose_views(pack, src, "m_de", profile, [],
                                                           now=datetime(2025, 11, 4, tzinfo=UTC))}
    assert after["genai_training"].used is True and after["genai_training"].rule == "opt_out"


def test_signin_country_counts_minor_excluded(center_env):
    settings, cs = center_env
    src = Sources(settings)
    pack = load_pack("linkedin-2024")
    at = datetime(2025, 1, 15, tzinfo=UTC)  # EEA prohibited then; the sign-in is within 30 days
    vpn = {v.purpose: v for v in explain.purpose_views(pack, src, "m_vpn", src.profile("m_vpn"), [], now=at)}
    assert vpn["genai_training"].region_group == "eea_ch" and vpn["genai_training"].jurisdiction == "SE"
    assert any("signed in from SE" in line for line in vpn["genai_training"].lines)
    late = datetime(2025, 3, 1, tzinfo=UTC)  # sign-in out of the look-back window: residence decides
    vpn = {v.purpose: v for v in explain.purpose_views(pack, src, "m_vpn", src.profile("m_vpn"), [], now=late)}
    assert vpn["genai_training"].region_group == "rest_of_world" and vpn["genai_training"].used
    kid = {v.purpose: v for v in explain.purpose_views(pack, src, "m_kid", src.profile("m_kid"), [], now=at)}
    assert kid["genai_training"].used is False and "minor" in kid["genai_training"].reasons
    early = explain.purpose_views(pack, src, "m_us", src.profile("m_us"), [], now=datetime(2024, 1, 1, tzinfo=UTC))
    assert all(not v.used and "no_policy_in_force" in v.reasons for v in early)


def test_objection_and_withdrawal(client, app):
    csrf = sign_in(client, "m_us")
    assert "Object to a use" in client.get("/me/object", params={"purpose": "ml_personalization"}).text
    client.post("/me/object", data={"csrf_token": csrf, "purpose": "ml_personalization", "choice": "object",
                                    "nonce": "obj-00001"})
    ev = ledger_of(app).events_for("m_us")
    assert [(e.choice, e.source) for e in ev] == [("object", "objection_form")]
    api = client.get("/api/v1/members/m_us/decisions", headers={"X-API-Key": "test-api-key-123"}).json()
    ml = next(d for d in api if d["purpose"] == "ml_personalization")
    assert ml["used"] is False and "objected" in ml["reasons"]
    client.post("/me/object", data={"csrf_token": csrf, "purpose": "ml_personalization",
                                    "choice": "withdraw_objection", "nonce": "obj-00002"})
    api = client.get("/api/v1/members/m_us/decisions", headers={"X-API-Key": "test-api-key-123"}).json()
    assert next(d for d in api if d["purpose"] == "ml_personalization")["used"] is True


def test_erasure_requests_get_deadline_of_member_law(client, app):
    csrf = sign_in(client, "m_de")
    r = client.post("/me/erase", data={"csrf_token": csrf, "kind": "erase_items", "item_ids": ["it_m_de_1"],
                                       "nonce": "erase-0001"})
    assert r.status_code == 200 and "GDPR" in r.text
    # items of another member can never be named
    client.post("/me/erase", data={"csrf_token": csrf, "kind": "erase_items", "item_ids": ["it_m_us_1"],
                                   "nonce": "erase-0002"})
    client.post("/me/erase", data={"csrf_token": csrf, "kind": "erase_ai_data", "nonce": "erase-0003"})
    reqs = ledger_of(app).requests_for("m_de")
    assert [(q.kind, q.item_ids) for q in reqs] == [("erase_items", ["it_m_de_1"]), ("erase_ai_data", None)]
    first = reqs[0]
    assert first.deadline.month == (first.at.month % 12) + 1  # GDPR: one calendar month
    assert ledger_of(app).requests_for("m_us") == []
    assert "erase ai data" in client.get("/me/requests").text


def test_signin_link_is_single_use_and_signed(client, app):
    from .helpers import SECRET, post_signin

    from consentry.center.auth import make_link_token

    token, _ = make_link_token(SECRET, "m_us")
    assert post_signin(client, token, follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert post_signin(client, token).status_code == 400
    forged, _ = make_link_token("another-secret-that-is-long-enough-0123", "m_us")
    assert post_signin(client, forged).status_code == 400
    assert client.get("/me", follow_redirects=False).status_code == 303  # not signed in


def test_identity_header_mode(center_env):
    from fastapi.testclient import TestClient

    from consentry.center.app import create_app

    settings, cs = center_env
    app = create_app(settings, cs.model_copy(update={"identity_header": "X-Platform-Member"}))
    with TestClient(app) as c:
        assert c.get("/me", follow_redirects=False).status_code == 303
        page = c.get("/me", headers={"X-Platform-Member": "m_de"})
        assert page.status_code == 200 and "m_de" in page.text
        for bad in ["x" * 300, "m_de; drop", "../m_us"]:  # not a member id: nobody, never a 500
            assert c.get("/me", headers={"X-Platform-Member": bad, "Sec-GPC": "1"},
                         follow_redirects=False).status_code == 303
