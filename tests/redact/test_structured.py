"""Structured detectors: each finds its type, and each validator rejects look-alikes."""

from __future__ import annotations

import pytest

from consentry.redact.address import detect_address
from consentry.redact.phone import detect_phone
from consentry.redact.structured import (
    detect_credit_card,
    detect_email,
    detect_handle,
    detect_iban,
    detect_ip,
    detect_national_id,
    detect_url,
    valid_ssn,
)
from consentry.vocab import PiiType


def surfaces(text: str, spans) -> list[str]:
    return [text[s.start:s.end] for s in spans]


def test_email():
    t = "Write to ana.silva+cv@example.co.uk, not to ana@localhost."
    assert surfaces(t, detect_email(t)) == ["ana.silva+cv@example.co.uk"]
    assert all(s.type is PiiType.EMAIL for s in detect_email(t))


def test_url_schemes_www_and_bare_domains():
    t = "See https://www.Example.com.pt/path?q=1, www.foo.org and acme.com; e.g. not this."
    assert surfaces(t, detect_url(t)) == ["https://www.Example.com.pt/path?q=1", "www.foo.org", "acme.com"]


def test_url_skips_email_domain():
    t = "mail me at bob@example.com"
    assert detect_url(t) == []


@pytest.mark.parametrize("ip", ["192.168.1.20", "8.8.8.8", "2001:db8::8a2e:370:7334", "6e40:4041:c617:e898:c11:40d2:c669:2eb4"])
def test_ip_valid(ip):
    t = f"login from {ip}."
    assert surfaces(t, detect_ip(t)) == [ip]


@pytest.mark.parametrize("text", ["version 999.1.1.1", "at 10:30:00 today", "ratio 1.2.3", "1.2.3.4.5"])
def test_ip_invalid(text):
    assert detect_ip(text) == []


def test_credit_card_luhn():
    assert surfaces("pay with 4454 7945 1139 0933 now", detect_credit_card("pay with 4454 7945 1139 0933 now")) == [
        "4454 7945 1139 0933"
    ]
    # the same 16 digits with the last one changed fail Luhn: not a card
    assert detect_credit_card("pay with 4454794511390934 now") == []
    assert detect_credit_card("0000000000000000") == []  # passes Luhn, but no card is all zeros
    # the documented test cards have two distinct digits and are redacted like any card
    for card in ("4111 1111 1111 1111", "5555-5555-5555-4444", "4111111111111111"):
        assert surfaces(f"card {card}", detect_credit_card(f"card {card}")) == [card]


def test_iban_mod97():
    good = "GB82 WEST 1234 5698 7654 32"
    t = f"IBAN {good} thanks"
    assert surfaces(t, detect_iban(t)) == [good]
    assert surfaces("iban gb82west12345698765432", detect_iban("iban gb82west12345698765432")) == ["gb82west12345698765432"]
    assert detect_iban("IBAN GB83WEST12345698765432") == []  # bad check digits


@pytest.mark.parametrize("ssn", ["123-45-6789", "853-37-1694", "078 05 1120"])
def test_ssn_valid(ssn):
    t = f"SSN: {ssn}"
    assert surfaces(t, detect_national_id(t)) == [ssn]


@pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "900-12-3456", "987-65-4321", "123-00-4567", "123-45-0000"])
def test_ssn_invalid_areas_groups_serials(ssn):
    assert detect_national_id(f"SSN: {ssn}") == []


def test_ssn_bare_digits_need_context():
    assert detect_national_id("order 123456789 shipped") == []
    assert len(detect_national_id("my ssn is 123456789")) == 1
    assert valid_ssn("123", "45", "6789") and not valid_ssn("666", "45", "6789")


def test_other_national_ids_with_check_digits():
    assert len(detect_national_id("DNI 12345678Z")) == 1
    assert detect_national_id("DNI 12345678A") == []  # wrong check letter


def test_handles():
    t = "thanks @ana_silva and @Bob! mail x@y.com"
    assert surfaces(t, detect_handle(t)) == ["@ana_silva", "@Bob"]


@pytest.mark.parametrize(
    "text,phone",
    [
        ("call me at 905-674-3793 now", "905-674-3793"),
        ("office +46 (0)8 928 571 38", "+46 (0)8 928 571 38"),
        ("UK mobile +44 7700 900123", "+44 7700 900123"),
        ("They're not answering at 78 651 450", "78 651 450"),
        ("ext 345-899-3560x4587", "345-899-3560x4587"),
        ("my number is 9498777106", "9498777106"),
        ("(37) 788-063", "(37) 788-063"),
    ],
)
def test_phone_formats(text, phone):
    assert surfaces(text, detect_phone(text)) == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "Between 1999 2004 and 2010",
        "On 2020-06-20 14:11:22 it failed",
        "order 123456789012 shipped",
        "My driver's license number is 5130634",
        "ZIP: 75534-030",
        "score 3.14159",
        "price 1.234.567 EUR",
    ],
)
def test_phone_rejects_years_dates_ids(text):
    assert detect_phone(text) == []


@pytest.mark.parametrize(
    "text,addr",
    [
        ("I live at 1668 Glyn St in town", "1668 Glyn St"),
        ("Send it to Koskikatu 25 please", "Koskikatu 25"),
        ("Ufficio in Via Franscini 71", "Via Franscini 71"),
        ("Apt. 864", "Apt. 864"),
    ],
)
def test_street_address(text, addr):
    assert addr in surfaces(text, detect_address(text))


def test_address_needs_a_number():
    assert detect_address("Remembering the High Street years") == []
