"""Admin pages and the legal deadlines behind the requests page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from .helpers import ADMIN_TOKEN, csrf_of

from consentry.center.deadlines import add_months, deadline


@pytest.mark.parametrize("country,law,due", [
    ("DE", "GDPR", datetime(2025, 2, 28, 12, tzinfo=UTC)),       # one calendar month, clamped to February's end
    ("GB", "UK GDPR", datetime(2025, 2, 28, 12, tzinfo=UTC)),
    ("US", "CCPA", datetime(2025, 3, 17, 12, tzinfo=UTC)),       # 45 days
    ("BR", "LGPD", datetime(2025, 2, 15, 12, tzinfo=UTC)),       # 15 days
    ("CA", "PIPEDA", datetime(2025, 3, 2, 12, tzinfo=UTC)),      # 30 days
    ("JP", "default", datetime(2025, 3, 2, 12, tzinfo=UTC)),
    (None, "default", datetime(2025, 3, 2, 12, tzinfo=UTC)),
])
def test_deadlines_per_jurisdiction(country, law, due):
    got_law, got_due = deadline(datetime(2025, 1, 31, 12, tzinfo=UTC), country)
    assert (got_law.name, got_due) == (law, due)


def test_add_months_over_year_end():
    assert add_months(datetime(2024, 12, 15, tzinfo=UTC), 1) == datetime(2025, 1, 15, tzinfo=UTC)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)


def admin_login(client) -> None:
    page = client.get("/admin/login")
    r = client.post("/admin/login", data={"csrf_token": csrf_of(page.text), "token": ADMIN_TOKEN},
                    follow_redirects=False)
    assert r.status_code == 303


def test_admin_requests_show_law_and_overdue(client, app):
    led = app.state.sources.ledger
    led.append_request("m_de", "erase_ai_data", datetime(2020, 1, 1, tzinfo=UTC), client_request_id="old")
    led.append_request("m_us", "erase_items", datetime.now(UTC), ["it_m_us_1", "it_m_us_2"], client_request_id="new")
    admin_login(client)
    page = client.get("/admin/requests").text
    assert "GDPR" in page and "CCPA" in page and "erase_items (2 items)" in page
    assert page.count('class="overdue"') == 1
    assert page.index("m_de") < page.index("m_us")  # soonest deadline first


def test_admin_dashboard_audit_and_charts(client, app):
    led = app.state.sources.ledger
    led.append_event("m_us", "genai_training", "opt_out", "settings", datetime(2025, 5, 1, tzinfo=UTC),
                     client_request_id="e1")
    led.append_event("m_de", "genai_training", "opt_in", "api", datetime(2025, 5, 2, tzinfo=UTC),
                     client_request_id="e2")
    admin_login(client)
    dash = client.get("/admin")
    assert dash.status_code == 200 and "<svg" in dash.text and "Consent changes per day" in dash.text
    assert "2025-05-01" in dash.text and "2025-05-02" in dash.text
    audit = client.get("/admin/audit").text
    assert 'data-ok="true"' in audit and "entries verified" in audit, audit[audit.find("<main"):][:800]
    assert client.get("/admin/snapshots").status_code == 200
    assert client.get("/models/assistant/nope-0001/summary").status_code == 404


def test_admin_refused_without_configured_token(center_env):
    from fastapi.testclient import TestClient

    from consentry.center.app import create_app

    settings, cs = center_env
    with TestClient(create_app(settings, cs.model_copy(update={"admin_token": None}))) as c:
        page = c.get("/admin/login")
        assert "No administrator token is configured" in page.text
        r = c.post("/admin/login", data={"csrf_token": csrf_of(page.text), "token": ""})
        assert r.status_code == 401
        assert c.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
