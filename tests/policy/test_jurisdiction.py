"""Offline IP resolution: country by iptocc, datacenter/VPN flag by iporigin."""

from __future__ import annotations

import iporigin
import iptocc
from .policynet import GERMAN_DC_IP, GERMAN_IP, US_IP

from consentry.policy.jurisdiction import resolve_ips


def test_resolve_ips_distinct_with_country_and_flag() -> None:
    t = resolve_ips([GERMAN_IP, GERMAN_IP, GERMAN_DC_IP, US_IP, None, " ", "nonsense", "10.0.0.1", "2a01:4f8::1"])
    rows = {r["ip"]: r for r in t.to_pylist()}
    assert set(rows) == {GERMAN_IP, GERMAN_DC_IP, US_IP, "nonsense", "10.0.0.1", "2a01:4f8::1"}
    assert rows[GERMAN_IP] == {"ip": GERMAN_IP, "country": "DE", "is_datacenter": False}
    assert rows[GERMAN_DC_IP]["country"] == "DE" and rows[GERMAN_DC_IP]["is_datacenter"] is True
    assert rows[US_IP]["country"] == "US"
    assert rows["nonsense"] == {"ip": "nonsense", "country": None, "is_datacenter": None}
    assert rows["10.0.0.1"]["country"] is None and rows["10.0.0.1"]["is_datacenter"] is False
    assert rows["2a01:4f8::1"]["country"] == "DE"


def test_vectorised_flags_agree_with_iporigin() -> None:
    import random

    rnd = random.Random(5)
    ips = [f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}"
           for _ in range(3000)]
    ips += ["8.8.8.8", "1.1.1.1", "46.4.0.1", "52.95.110.1", "104.16.0.1", "127.0.0.1", "192.168.1.1"]
    t = resolve_ips(ips).to_pylist()
    assert [r["is_datacenter"] for r in t] == [iporigin.classify(r["ip"]).is_datacenter for r in t]
    assert [r["country"] for r in t] == iptocc.country_code([r["ip"] for r in t])
    assert any(r["is_datacenter"] for r in t)


def test_empty() -> None:
    assert resolve_ips([]).num_rows == 0


def test_unfamiliar_iporigin_file_falls_back_to_classify(monkeypatch) -> None:
    from consentry.policy import jurisdiction

    ips = ["8.8.8.8", "46.4.0.1", "52.95.110.1", "104.16.0.1", "192.168.1.1", "81.2.69.160"]
    fast = resolve_ips(ips).to_pylist()
    monkeypatch.setattr(jurisdiction, "_v4_ranges", lambda: None)
    slow = resolve_ips(ips).to_pylist()
    assert slow == fast
    assert [r["is_datacenter"] for r in slow] == [iporigin.classify(r["ip"]).is_datacenter for r in slow]
