"""Test data and helpers for the privacy center: a tiny network export, sign-in, CSRF.

Members: an adult in the US, one in Germany (EEA), a minor in the US, and a US
resident who signed in from Sweden (the VPN rule). Items carry a name that a
non-member may object to.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from consentry.center.auth import make_link_token
from consentry.network import schema

API_KEY = "test-api-key-123"
ADMIN_TOKEN = "test-admin-token-456"
SECRET = "test-secret-key-for-sessions-and-links-0123456789"
NOW = datetime.now(UTC)

MEMBERS = [
    # member_id, display_name, country, birth_date, is_member, handle
    ("m_us", "Avery Quinton", "US", date(1985, 3, 1), True, "averyq"),
    ("m_de", "Greta Vogelsang", "DE", date(1979, 7, 9), True, "gretav"),
    ("m_kid", "Tim Kleinert", "US", date(NOW.year - 15, 1, 1), True, "timk"),
    ("m_vpn", "Rosa Almeida", "US", date(1990, 5, 5), True, "rosaa"),
]
VPN_SIGNIN = datetime(2025, 1, 10, tzinfo=UTC)
NON_MEMBER_NAME = "Bartholomew Fenwick-Oduya"


def write_export(network: Path) -> None:
    network.mkdir(parents=True, exist_ok=True)
    ts = datetime(2025, 1, 10, tzinfo=UTC)
    pq.write_table(pa.Table.from_pylist([
        {"member_id": m, "display_name": n, "residence_country": c, "birth_date": b, "joined_at": ts,
         "closed_at": None, "is_member": im, "handle": h} for m, n, c, b, im, h in MEMBERS
    ], schema=schema.MEMBERS), network / "members.parquet")
    items = []
    for i, (m, n, *_rest) in enumerate(MEMBERS):
        items.append({"item_id": f"it_{m}_1", "member_id": m, "kind": "post", "visibility": "public",
                      "created_at": datetime(2025, 2, 1 + i, tzinfo=UTC), "deleted_at": None,
                      "text": f"Great meeting with {NON_MEMBER_NAME} today about data engineering and pipelines.",
                      "mentions": [], "group_sensitive": False})
        items.append({"item_id": f"it_{m}_2", "member_id": m, "kind": "article", "visibility": "public",
                      "created_at": datetime(2025, 3, 1 + i, tzinfo=UTC), "deleted_at": None,
                      "text": "Five lessons I learned shipping machine learning systems to production.",
                      "mentions": [], "group_sensitive": False})
        items.append({"item_id": f"it_{m}_3", "member_id": m, "kind": "message", "visibility": "private",
                      "created_at": datetime(2025, 3, 5, tzinfo=UTC), "deleted_at": None,
                      "text": "A private message that must never be used.", "mentions": [], "group_sensitive": False})
    pq.write_table(pa.Table.from_pylist(items, schema=schema.ITEMS), network / "items.parquet")
    signins = [{"member_id": "m_vpn", "ip": "2.2.2.2", "at": VPN_SIGNIN}]  # 2.2.2.2: Sweden (EEA) per iptocc
    signins += [{"member_id": m, "ip": "8.8.8.8", "at": NOW} for m in ("m_us", "m_kid")]
    pq.write_table(pa.Table.from_pylist(signins, schema=schema.SIGNINS), network / "signins.parquet")
    # present and empty: the members' choices, requests and notices live in the ledger
    for name in ("consent_events", "requests", "notices"):
        pq.write_table(schema.TABLES[name].empty_table(), network / f"{name}.parquet")


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def post_signin(client: TestClient, token: str, **kw):
    """POST /signin as the page's button does: with the pre-sign-in session's CSRF token."""
    csrf = csrf_of(client.get("/object").text)  # any page: the form token is the session's
    return client.post("/signin", data={"token": token, "csrf_token": csrf}, **kw)


def sign_in(client: TestClient, member_id: str) -> str:
    """Sign `member_id` in through a one-time link; returns the CSRF token of /me."""
    token, _ = make_link_token(SECRET, member_id)
    form = client.get("/signin", params={"token": token})
    assert form.status_code == 200
    r = client.post("/signin", data={"token": token, "csrf_token": csrf_of(form.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"
    page = client.get("/me")
    assert page.status_code == 200
    return csrf_of(page.text)
