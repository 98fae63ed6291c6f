"""Idempotency and provenance of recorded choices, on SQLite and on the real PostgreSQL.

- A retry of `POST /api/v1/members/{id}/choices` with the same client_request_id and a
  different body is refused with 409 and the recorded event (before: 201 with the old
  choice, the member's new choice silently lost).
- A choice made in the center records the notice version the member was shown (before:
  always null); a notice version never delivered to the member is refused with 422, on
  the API and on the member's forms (before: recorded as if delivered).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from consentry.center.app import create_app
from consentry.network import schema

from .helpers import API_KEY, sign_in

H = {"X-API-Key": API_KEY}
CHOICES = "/api/v1/members/m_us/choices"


@pytest.fixture(params=["sqlite", "postgresql"])
def center(request: pytest.FixtureRequest, center_env):
    """The center over the test export, with notices delivered: 2024-09 to m_us (in the
    ledger), 2025-11 to m_de (in the export only), 2099-01 to m_us in the future."""
    settings, cs = center_env
    network = settings.home / "network"
    pq.write_table(pa.Table.from_pylist([
        {"member_id": "m_de", "notice_version": "2025-11", "delivered_at": datetime(2025, 10, 5, tzinfo=UTC)},
    ], schema=schema.NOTICES), network / "notices.parquet")
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    app = create_app(settings.model_copy(update={"ledger_url": url}), cs)
    ledger = app.state.sources.ledger
    ledger.append_notice("m_us", "2024-09", datetime(2024, 8, 20, tzinfo=UTC), client_request_id="n-us-2024-09")
    ledger.append_notice("m_us", "2099-01", datetime.now(UTC) + timedelta(days=30), client_request_id="n-us-2099")
    with TestClient(app) as client:
        yield app, client


def _events(app, member: str = "m_us") -> list:
    return app.state.sources.ledger.events_for(member)


def test_retry_with_another_choice_is_409_with_the_recorded_event(center) -> None:
    app, client = center
    first = client.post(CHOICES, headers=H, json={"purpose": "genai_training", "choice": "opt_in",
                                                  "client_request_id": "toggle-7"})
    assert first.status_code == 201 and first.json()["created"] is True
    retry = client.post(CHOICES, headers=H, json={"purpose": "genai_training", "choice": "opt_out",
                                                  "client_request_id": "toggle-7"})
    assert retry.status_code == 409
    body = retry.json()
    assert body["recorded"]["event_id"] == first.json()["event_id"] and body["recorded"]["choice"] == "opt_in"
    assert body["recorded"]["created"] is False and "choice" in body["detail"]
    assert [e.choice for e in _events(app)] == ["opt_in"]  # nothing new recorded, nothing silently lost
    other_notice = client.post(CHOICES, headers=H, json={"purpose": "genai_training", "choice": "opt_in",
                                                         "client_request_id": "toggle-7", "notice_version": "2024-09"})
    assert other_notice.status_code == 409 and "notice_version" in other_notice.json()["detail"]
    same = client.post(CHOICES, headers=H, json={"purpose": "genai_training", "choice": "opt_in",
                                                 "client_request_id": "toggle-7"})
    assert same.status_code == 201 and same.json()["created"] is False
    assert same.json()["event_id"] == first.json()["event_id"] and len(_events(app)) == 1
    spec = client.get("/openapi.json").json()["paths"]["/api/v1/members/{member_id}/choices"]["post"]
    assert "recorded" in str(spec["responses"]["409"])


def test_api_refuses_a_notice_never_delivered_to_the_member(center) -> None:
    app, client = center
    ok = client.post(CHOICES, headers=H, json={"purpose": "genai_training", "choice": "opt_out",
                                               "client_request_id": "n-1", "notice_version": "2024-09"})
    assert ok.status_code == 201 and ok.json()["receipt"]["notice_version"] == "2024-09"
    for never in ("2025-11",  # delivered, but to another member
                  "2099-01",  # to this member, but not yet
                  "n-made-up"):
        r = client.post(CHOICES, headers=H, json={"purpose": "genai_training", "choice": "opt_in",
                                                  "client_request_id": f"x-{never}", "notice_version": never})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "notice_version"], r.text
    assert [e.notice_version for e in _events(app)] == ["2024-09"]
    from_export = client.post("/api/v1/members/m_de/choices", headers=H, json={
        "purpose": "genai_training", "choice": "opt_in", "client_request_id": "n-2", "notice_version": "2025-11"})
    assert from_export.status_code == 201  # a notice the export delivered counts as delivered


def _form_fields(html: str, action: str) -> dict[str, str]:
    form = re.search(rf'<form method="post" action="{action}">(.*?)</form>', html, re.DOTALL)
    assert form, f"no form posting to {action}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))


def test_center_choices_record_the_notice_the_member_was_shown(center) -> None:
    app, client = center
    sign_in(client, "m_us")
    page = client.get("/me").text
    assert "version 2024-09" in page  # the notice in force for the member, not the future one
    fields = _form_fields(page, "/me/choices")
    assert fields["notice_version"] == "2024-09"
    r = client.post("/me/choices", data=fields)
    assert r.status_code == 200, r.text
    obj = _form_fields(client.get("/me/object").text, "/me/object")
    assert obj["notice_version"] == "2024-09"
    assert client.post("/me/object", data={**obj, "purpose": "ml_personalization", "choice": "object"}).status_code == 200
    assert [(e.source, e.notice_version) for e in _events(app)] == [("settings", "2024-09"),
                                                                     ("objection_form", "2024-09")]
    forged = {**_form_fields(client.get("/me").text, "/me/choices"), "notice_version": "2025-11"}
    assert client.post("/me/choices", data=forged).status_code == 422
    assert len(_events(app)) == 2


def test_a_member_never_given_a_notice_records_none(center) -> None:
    app, client = center
    sign_in(client, "m_vpn")
    page = client.get("/me").text
    assert "no record of giving you a privacy notice" in page
    fields = _form_fields(page, "/me/choices")
    assert "notice_version" not in fields
    assert client.post("/me/choices", data=fields).status_code == 200
    assert [e.notice_version for e in _events(app, "m_vpn")] == [None]
