"""The JSON API: behaviour, and schemathesis against its OpenAPI schema (no 5xx, responses
conform to the schema), for generated valid and invalid requests."""

from __future__ import annotations

import pytest
from .helpers import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

H = {"X-API-Key": API_KEY}


def test_record_choice_idempotent_with_receipt(client, app):
    app.state.sources.ledger.append_notice("m_us", "n-2024-09", "2024-09-01T00:00:00Z", client_request_id="n1")
    body = {"purpose": "genai_training", "choice": "opt_out", "client_request_id": "platform-1",
            "notice_version": "n-2024-09"}
    r1 = client.post("/api/v1/members/m_us/choices", json=body, headers=H)
    assert r1.status_code == 201 and r1.json()["created"] is True
    assert r1.json()["receipt"]["notice_version"] == "n-2024-09" and r1.json()["source"] == "api"
    r2 = client.post("/api/v1/members/m_us/choices", json=body, headers=H)
    assert r2.json()["created"] is False and r2.json()["event_id"] == r1.json()["event_id"]
    assert len(app.state.sources.ledger.events_for("m_us")) == 1
    listed = client.get("/api/v1/members/m_us/choices", headers=H).json()
    assert [c["event_id"] for c in listed] == [r1.json()["event_id"]]
    dec = {d["purpose"]: d for d in client.get("/api/v1/members/m_us/decisions", headers=H).json()}
    assert set(dec) == {"genai_training", "ml_personalization", "ml_safety", "affiliate_sharing", "third_party_sharing"}
    assert dec["genai_training"]["used"] is False and dec["genai_training"]["reasons"] == ["opted_out"]
    assert dec["ml_safety"]["used"] is True


def test_bad_input_is_4xx(client):
    assert client.post("/api/v1/members/nobody/choices", headers=H,
                       json={"purpose": "genai_training", "choice": "opt_out", "client_request_id": "x"}).status_code == 404
    for bad in [{}, {"purpose": "mind_reading", "choice": "opt_out", "client_request_id": "x"},
                {"purpose": "genai_training", "choice": "maybe", "client_request_id": "x"},
                {"purpose": "genai_training", "choice": "opt_out", "client_request_id": ""}]:
        assert client.post("/api/v1/members/m_us/choices", headers=H, json=bad).status_code == 422
    r = client.post("/api/v1/members/m_us/choices", headers={**H, "content-type": "application/json"}, content=b"{nope")
    assert r.status_code == 422
    assert client.get("/api/v1/members/" + "x" * 300 + "/choices", headers=H).status_code == 422


def test_openapi_documents_api_key(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/api/v1/members/{member_id}/choices", "/api/v1/members/{member_id}/decisions",
                                  "/api/v1/members/{member_id}/gpc",
                                  "/api/v1/members/{member_id}/requests",
                                  "/api/v1/members/{member_id}/requests/{request_id}/bundle"}
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("in") == "header" and s.get("name") == "X-API-Key" for s in schemes.values())


@pytest.mark.slow
def test_schemathesis_no_server_errors(app):
    import schemathesis
    from schemathesis.checks import positive_data_acceptance
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == 7
    seen: list[int] = []
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=15, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode), member=st.sampled_from([None, "m_us", "m_de"]),
                   key=st.sampled_from([API_KEY, API_KEY, None, "bad-key"]))
            def run(case, member, key):
                if member and "member_id" in (case.path_parameters or {}):
                    case.path_parameters["member_id"] = member
                headers = {"X-API-Key": key} if key else {}
                response = case.call(headers=headers)
                seen.append(response.status_code)
                assert response.status_code < 500, (case.method, case.formatted_path, response.text)
                if mode is GenerationMode.POSITIVE and key == API_KEY:
                    # A notice version the member was never shown is refused (422) by the
                    # ledger's state, which no schema can express; every other check applies.
                    state_dependent = response.status_code == 422 and "never delivered" in response.text
                    case.validate_response(response, headers=headers,
                                           excluded_checks=[positive_data_acceptance] if state_dependent else None)

            run()
    assert any(s < 300 for s in seen) and any(s == 401 for s in seen) and any(s == 422 for s in seen)
