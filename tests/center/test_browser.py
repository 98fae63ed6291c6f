"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
a member turns generative-AI training off, an EEA member reads the region rule, a
non-member objects and is redacted, an admin reads the dashboards. Writes the
screenshots in docs/screenshots/."""

from __future__ import annotations

import glob
import json
import socket
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from .helpers import ADMIN_TOKEN, NOW, SECRET, write_export

from consentry.center.app import create_app
from consentry.center.auth import make_link_token
from consentry.center.config import CenterSettings
from consentry.network import schema
from consentry.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
OBJECTOR = "Zorblax Quenteroo"  # a non-member, mentioned in lower case (no detector finds it unaided)
MENTION = ("thanks zorblax quenteroo for the great introduction to modern data pipelines, streaming systems "
           "and the many practical lessons about running them in production at the meetup last week")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make browser)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(home):
    import uvicorn

    write_export(home / "network")
    items = pq.read_table(home / "network" / "items.parquet").to_pylist()
    items[0]["text"] = MENTION  # it_m_us_1
    pq.write_table(pa.Table.from_pylist(items, schema=schema.ITEMS), home / "network" / "items.parquet")
    settings = Settings(home=home)
    port = _free_port()
    app = create_app(settings, CenterSettings(secret_key=SECRET, admin_token=ADMIN_TOKEN, api_keys="k",
                                              public_url=f"http://127.0.0.1:{port}"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "app": app, "settings": settings,
           "ledger": app.state.sources.ledger}
    srv.should_exit = True
    t.join(10)


def build(server, purpose: str = "genai_training"):
    from consentry.snapshots.build import build_snapshot

    s = server["settings"]
    return build_snapshot(s.network, "linkedin-2024", purpose, datetime.now(UTC), s.snapshots, workers=1,
                          ledger=server["ledger"])


def snapshot_rows(server, manifest) -> list[dict]:
    d = server["settings"].snapshots / manifest.purpose / manifest.version / "data"
    return [r for f in sorted(glob.glob(str(d / "*" / "*.parquet"))) for r in pq.read_table(f).to_pylist()]


def sign_in(page, server, member: str) -> None:
    token, _ = make_link_token(SECRET, member)
    page.goto(f"{server['url']}/signin?token={token}")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/me")


def admin_sign_in(page, server) -> None:
    page.goto(f"{server['url']}/admin")
    page.wait_for_url("**/admin/login")
    page.get_by_label("Administrator token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_member_turns_genai_training_off(browser, server):
    first = build(server)
    assert any(r["member_id"] == "m_us" for r in snapshot_rows(server, first))
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, server, "m_us")
    card = page.locator("section[data-purpose=genai_training]")
    assert "Your data is used" in card.inner_text()
    shot(page, "member-choices")
    page.goto(f"{server['url']}/me/timeline")
    assert f"went into training data snapshot genai_training/{first.version}" in page.inner_text("main")
    page.goto(f"{server['url']}/me")
    card.get_by_role("button", name="Turn off").click()
    page.wait_for_url("**/me")
    assert "Your data is not used" in card.inner_text()
    notice = page.get_by_role("status").first.inner_text()
    events = server["ledger"].events_for("m_us")
    assert [(e.purpose, e.choice, e.source) for e in events] == [("genai_training", "opt_out", "settings")]
    assert events[0].receipt["receipt_id"] in notice
    # the next snapshot leaves the member out, with the reason
    second = build(server)
    assert not any(r["member_id"] == "m_us" for r in snapshot_rows(server, second))
    page.goto(f"{server['url']}/me/timeline")
    text = page.inner_text("main")
    assert "You turned off" in text and f"no longer in snapshot genai_training/{second.version}" in text
    assert "opted_out" in text
    shot(page, "member-timeline")
    page.goto(f"{server['url']}/me/history")
    assert events[0].receipt["receipt_id"][:8] in page.inner_text("main")
    shot(page, "member-history")
    page.goto(f"{server['url']}/me/requests")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download my data (JSON)").click()
    data = json.loads(Path(dl.value.path()).read_text())
    assert [c["choice"] for c in data["choices"]] == ["opt_out"]
    lineage = {s["version"]: s for s in data["lineage"]}
    assert lineage[first.version]["included"] and not lineage[second.version]["included"]
    assert {x["reasons"][0] for x in lineage[second.version]["excluded"]} >= {"opted_out"}
    shot(page, "member-requests")
    ctx.close()


def test_eea_member_sees_region_rule_on_phone(browser, server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True)
    page = ctx.new_page()
    sign_in(page, server, "m_de")
    card = page.locator("section[data-purpose=genai_training]")
    text = card.inner_text()
    assert "European Economic Area or Switzerland" in text and "linkedin-2024@" in text
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page must not scroll sideways on a phone"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.evaluate("document.activeElement.blur()")
    shot(page, "member-eea-phone")
    ctx.close()


def test_non_member_objection_is_redacted_in_next_snapshot(browser, server):
    before = build(server)
    assert any("zorblax quenteroo" in (r["text"] or "").lower() for r in snapshot_rows(server, before))
    page = browser.new_page()
    page.goto(f"{server['url']}/object")
    page.get_by_label("Your name, as it may appear in posts").fill(OBJECTOR)
    page.get_by_label("How we can reach you").fill("zq@example.org")
    shot(page, "non-member-objection")
    page.get_by_role("button", name="Send objection").click()
    assert "Objection received" in page.inner_text("main")
    assert server["ledger"].redaction_names() == []  # held for an admin: no redaction yet
    held = build(server)
    assert any("zorblax quenteroo" in (r["text"] or "").lower() for r in snapshot_rows(server, held))
    admin_sign_in(page, server)
    page.goto(f"{server['url']}/admin/objections")
    row = page.locator("tr", has_text=OBJECTOR)
    shot(page, "admin-objections")
    row.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/admin/objections")
    assert "Objection confirmed" in page.inner_text("main") and OBJECTOR not in page.inner_text("main")
    assert [n.name for n in server["ledger"].redaction_names()] == [OBJECTOR]
    after = build(server)
    rows = snapshot_rows(server, after)
    assert any(r["item_id"] == "it_m_us_1" for r in rows)
    assert not any("zorblax" in (r["text"] or "").lower() or "quenteroo" in (r["text"] or "").lower() for r in rows)
    page.close()


def test_admin_pages(browser, server):
    from consentry.training.assistant import AssistantConfig
    from consentry.training.pipeline import train_version

    manifest = build(server)
    s = server["settings"]
    model = train_version("assistant", s.snapshots / manifest.purpose / manifest.version, s.models,
                          config=asdict(AssistantConfig.tiny()), n_slices=1, progress=False, evaluate=False,
                          allow_empty=True)  # a few posts over many shards: empty adapters are the base
    led = server["ledger"]
    led.append_request("m_de", "erase_ai_data", NOW, client_request_id="req-1")
    for i, (m, choice, day) in enumerate([("m_us", "opt_out", 3), ("m_de", "opt_out", 3), ("m_vpn", "opt_out", 4),
                                          ("m_us", "opt_in", 5), ("m_de", "object", 5)]):
        led.append_event(m, "genai_training", choice, "api", datetime(2025, 6, day, tzinfo=UTC),
                         client_request_id=f"admin-ev-{i}")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    csp: list[str] = []
    page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    admin_sign_in(page, server)
    assert page.locator("svg").count() >= 2
    shot(page, "admin-dashboard")
    page.goto(f"{server['url']}/admin/requests")
    assert "GDPR" in page.inner_text("main")
    shot(page, "admin-requests")
    page.goto(f"{server['url']}/admin/snapshots")
    page.get_by_role("link", name=f"Summary of {model['version']}").click()
    text = page.inner_text("main")
    assert "Public summary of training content" in text and "members under 18 excluded" in text
    assert f"genai_training/{manifest.version}" in text
    shot(page, "admin-art53-summary")
    page.goto(f"{server['url']}/admin/audit")
    assert "audit chain ok" in page.inner_text("main")
    assert csp == [], csp  # charts and pages render under the CSP (no inline script or style)
    page.close()


def test_gpc_is_recorded_by_the_pages_post_under_its_csp(browser, server):
    """A browser sending Sec-GPC: the member page (any of them) posts /me/gpc by itself,
    from a script file the Content-Security-Policy allows; nothing is recorded by the GET."""
    ctx = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(f"{r.method} {r.url}") if r.method == "POST" else None)
    token, _ = make_link_token(SECRET, "m_vpn")
    page.goto(f"{server['url']}/signin?token={token}")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/me")
    page.locator("#gpc-status", has_text="Recorded as an opt-out").wait_for()
    assert f"POST {server['url']}/me/gpc" in posts
    events = server["ledger"].events_for("m_vpn")
    assert sorted((e.purpose, e.choice, e.source) for e in events) == [
        ("affiliate_sharing", "opt_out", "gpc"), ("third_party_sharing", "opt_out", "gpc")]
    page.goto(f"{server['url']}/me/history")
    assert "recorded as an opt-out" in page.inner_text("#gpc-notice")
    assert page.locator("#gpc-form").count() == 0
    assert len(server["ledger"].events_for("m_vpn")) == 2
    assert not any("Content Security Policy" in p for p in problems), problems
    ctx.close()


def test_login_csrf_from_another_site_is_refused(browser, server):
    """An attacker's page auto-submits their own sign-in link: the victim is not signed in."""
    attacker_token, _ = make_link_token(SECRET, "m_kid")
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{server['url']}/")  # the victim has visited the center before (a pre-session exists)
    page.set_content(f'''<form id="f" method="post" action="{server['url']}/signin">
        <input type="hidden" name="token" value="{attacker_token}"></form>''')
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    assert "403" in page.title() or "another site" in page.content() or "CSRF" in page.content()
    page.goto(f"{server['url']}/me")
    assert page.url.rstrip("/") == server["url"]  # redirected home: nobody signed in
    ctx.close()


def test_every_page_renders_under_the_csp(browser, server):
    """No page needs an inline script or style: Chromium reports no CSP violation anywhere."""
    ctx = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    page = ctx.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text else None)
    for path in ["/", "/object", "/admin/login", "/signin?token=bad"]:
        page.goto(f"{server['url']}{path}")
    sign_in(page, server, "m_de")
    for path in ["/me", "/me/object", "/me/requests", "/me/timeline", "/me/history"]:
        page.goto(f"{server['url']}{path}")
    admin_sign_in(page, server)
    for path in ["/admin", "/admin/requests", "/admin/snapshots", "/admin/audit", "/admin/objections"]:
        page.goto(f"{server['url']}{path}")
    assert violations == []
    ctx.close()
