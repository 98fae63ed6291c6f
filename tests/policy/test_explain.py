"""Explanations: the version in force, how the jurisdiction was resolved, events, reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from consentry.policy.explain import explain_item, explain_member

from .policynet import GERMAN_DC_IP, Net


@pytest.fixture
def story(net: Net) -> Net:
    net.member(residence_country="US", birth_date=dt.date(1990, 3, 1))
    net.item(item_id="post")
    net.item(item_id="dm", kind="message", visibility="private")
    net.signin("m1", GERMAN_DC_IP, "2025-01-10")
    net.event("m1", "genai_training", "opt_out", "2024-10-01")
    net.event("m1", "genai_training", "opt_in", "2025-03-01")
    return net


def test_item_explanation_names_every_reason_in_words(story: Net) -> None:
    e = explain_item(story.connect(), "linkedin-2024", "dm", "2025-01-15")
    assert e.allowed is False
    assert e.reasons == ["region_prohibited", "opted_out", "kind_excluded"]
    assert e.decision["pack"] == "linkedin-2024@2024-12-10"
    text = e.text()
    assert "may NOT be used" in text
    assert "(DE, group eea_ch)" in text
    assert "opted out (2024-10-01)" in text
    assert "(message) is never used" in text


def test_member_explanation_says_how_jurisdiction_was_resolved(story: Net) -> None:
    e = explain_member(story.tables(), "linkedin-2024", "m1", "2025-01-15", "genai_training")
    j = e.jurisdiction
    assert (j.country, j.region_group, j.resolved_from, j.residence) == ("DE", "eea_ch", "sign-in", "US")
    assert j.deciding_signin.ip == GERMAN_DC_IP and j.deciding_signin.is_datacenter is True
    assert e.version == "2024-12-10" and e.age == 34
    (p,) = e.purposes
    assert (p.items, p.allowed, p.rule) == (2, 0, "prohibited")
    assert [(ev.choice, ev.counted) for ev in p.events] == [("opt_out", True), ("opt_in", False)]
    text = e.text()
    assert "from a sign-in on 2025-01-10 from 46.4.0.1 through a datacenter/VPN address" in text
    assert "[not counted] (after T)" in text


def test_after_the_window_residence_decides_and_opt_in_counts(story: Net) -> None:
    e = explain_member(story.tables(), "linkedin-2024", "m1", "2025-03-15", "genai_training")
    assert e.jurisdiction.resolved_from == "residence" and e.jurisdiction.country == "US"
    assert e.purposes[0].allowed == 1  # the post; the message stays excluded by kind
    assert e.purposes[0].reasons == {"kind_excluded": 1}


def test_allowed_item(story: Net) -> None:
    e = explain_item(story.tables(), "linkedin-2024", "post", "2025-03-15")
    assert e.allowed and "MAY be used" in e.text() and "dpv:LegitimateInterest" in e.text()


def test_no_version_in_force(story: Net) -> None:
    e = explain_member(story.tables(), "linkedin-2024", "m1", "2024-01-01")
    assert e.version is None and "nothing is allowed" in e.text()
    assert {p.purpose for p in e.purposes} == {"genai_training", "ml_personalization", "ml_safety",
                                               "affiliate_sharing", "third_party_sharing"}
    assert all(p.reasons.get("no_policy_in_force") == 2 for p in e.purposes)


def test_unknown_member_and_item(story: Net) -> None:
    e = explain_member(story.tables(), "strict", "nobody", "2025-01-15", "genai_training")
    assert not e.found and e.purposes[0].items == 0
    with pytest.raises(KeyError):
        explain_item(story.tables(), "strict", "nothing", "2025-01-15")


def test_gpc_event_ignored_for_genai_is_explained(net: Net) -> None:
    net.member()
    net.item()
    net.event("m1", "genai_training", "opt_out", "2025-01-01", source="gpc")
    e = explain_member(net.tables(), "linkedin-2024", "m1", "2025-01-15", "genai_training")
    (ev,) = e.purposes[0].events
    assert not ev.counted and "GPC" in ev.note
    assert e.purposes[0].allowed == 1
