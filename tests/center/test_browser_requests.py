"""In headless Chromium: the public training-content summary, an admin closing requests from the
requests page, a member downloading the fulfilled export, an objection to safety models, and the
timeline across packs. Uses the `browser` and `server` fixtures of test_browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consentry.training.registry import Registry

from . import test_browser as tb
from .helpers import ADMIN_TOKEN
from .test_browser import build, shot, sign_in, snapshot_rows

browser, server = tb.browser, tb.server  # the fixtures, shared with test_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OLD = datetime(2020, 1, 1, tzinfo=UTC)


def register_model(server, manifest) -> dict:
    rows = snapshot_rows(server, manifest)
    kept = sorted(rows, key=lambda r: r["item_id"])[1:]  # one held out, as a trainer does
    s = server["settings"]
    return Registry(s.models).register({
        "name": "assistant", "kind": "assistant", "config": {},
        "base": {"model": "Tiny-Public-Base-7M", "pretraining_data": "Example Public Corpus v3", "licence": "Apache-2.0"},
        "shards": [{"shard": 0, "items": [r["item_id"] for r in kept], "item_members": [r["member_id"] for r in kept],
                    "members": sorted({r["member_id"] for r in kept}), "slices": []}],
        "snapshot": {"purpose": manifest.purpose, "version": manifest.version,
                     "path": str(s.snapshots / manifest.purpose / manifest.version), "content_hash": manifest.content_hash},
        "metrics": {}, "timings": {}})


def admin_sign_in(page, server) -> None:
    page.goto(f"{server['url']}/admin/login")
    page.get_by_label("Administrator token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")


def test_public_summary_from_the_home_page(browser, server):
    model = register_model(server, build(server))
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server["url"])
    page.get_by_role("link", name="training-content summaries").click()
    page.wait_for_url("**/models")
    page.get_by_role("link", name=f"Summary of {model['version']}").click()
    text = page.inner_text("main")
    for heading in ("1. General information", "2. List of data sources", "2.1 Publicly available datasets",
                    "2.4 User data", "3. Data processing aspects", "3.2 Removal of illegal content"):
        assert heading in text
    assert "Tiny-Public-Base-7M" in text and "Example Public Corpus v3" in text and "LOCATION" not in text
    shot(page, "public-training-summary")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download as JSON").click()
    assert json.loads(Path(dl.value.path()).read_text())["model_version"] == model["version"]
    page.close()


def test_admin_closes_requests_and_member_downloads_export(browser, server):
    led = server["ledger"]
    exp = led.append_request("m_us", "export", OLD, client_request_id="b-exp")
    odd = led.append_request("m_de", "export", OLD, client_request_id="b-odd")
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    admin_sign_in(page, server)
    assert page.locator("[data-overdue]").get_attribute("data-overdue") == "2"
    page.goto(f"{server['url']}/admin/requests")
    shot(page, "admin-requests-actions")
    page.locator(f"tr[data-request='{exp.request_id}']").get_by_role("button", name="Fulfil export").click()
    page.wait_for_url("**/admin/requests")
    assert "processed" in page.get_by_role("status").first.inner_text()
    row = page.locator(f"tr[data-request='{odd.request_id}']")
    row.locator("summary").click()
    row.get_by_label("Reason the member will read").fill("We could not verify that the request came from you")
    row.get_by_role("button", name="Refuse request").click()
    page.wait_for_url("**/admin/requests")
    assert "No open requests." in page.inner_text("main")
    page.goto(f"{server['url']}/admin")
    assert page.locator("[data-overdue]").get_attribute("data-overdue") == "0"
    ctx.close()
    assert led.request(exp.request_id).status == "processed" and led.request(odd.request_id).status == "refused"
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, server, "m_us")
    page.goto(f"{server['url']}/me/requests")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download this export (JSON)").click()
    bundle = json.loads(Path(dl.value.path()).read_text())
    assert bundle["member_id"] == "m_us" and bundle["format"] == "consentry.member-export/1"
    ctx.close()


def test_member_objects_to_safety_models(browser, server):
    from consentry.policy.packs import load_pack

    reason = load_pack("linkedin-2024").versions[-1].purposes["ml_safety"].objection_reason
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    sign_in(page, server, "m_us")
    card = page.locator("section[data-purpose=ml_safety]")
    card.get_by_role("link", name="Object to this use").click()
    page.wait_for_url("**/me/object?purpose=ml_safety")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/me")
    assert reason in page.get_by_role("status").first.inner_text()
    assert "does not honour objections" in card.inner_text() and reason in card.inner_text()
    events = server["ledger"].events_for("m_us")
    assert [(e.purpose, e.choice) for e in events] == [("ml_safety", "object")]
    shot(page, "member-safety-objection")
    page.close()


def test_timeline_across_packs(browser, server):
    from consentry.snapshots.build import build_snapshot

    first = build(server)
    s = server["settings"]
    second = build_snapshot(s.network, "strict", "genai_training", datetime.now(UTC), s.snapshots, workers=1,
                            ledger=server["ledger"])
    page = browser.new_page()
    sign_in(page, server, "m_us")
    page.goto(f"{server['url']}/me/timeline")
    text = page.inner_text("main")
    assert f"went into training data snapshot genai_training/{first.version}" in text
    assert "no longer in snapshot" not in text
    assert f"None of your items went into snapshot genai_training/{second.version}" in text
    page.close()
