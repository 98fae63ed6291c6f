"""Per purpose, for one member: is their data used, and why, in plain language.

Why a member-level view here: the decision plan (`consentry.policy`) answers per
item over the whole network; a member opening the page needs the same rules
applied to themselves now: the pack version in force, the most protective of their
residence and the countries they signed in from in the look-back window, their
latest choice (GPC counted only where the pack honours it), an objection until
withdrawn, and their age. Item-level exclusions (private messages, salary, ...)
come from the same pack version and are listed as "never used". The reason codes
are the vocabulary's, so the page and `consentry explain` say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from consentry.policy.packs import Pack, PackVersion
from consentry.vocab import Choice, Purpose, Reason, Rule

MEMBER_PURPOSES: tuple[str, ...] = (
    Purpose.GENAI_TRAINING.value,
    Purpose.ML_PERSONALIZATION.value,
    Purpose.AFFILIATE_SHARING.value,
    Purpose.THIRD_PARTY_SHARING.value,
)

TITLES = {
    "genai_training": "Training generative AI (writing assistant)",
    "ml_personalization": "Personalization models (feed, job matches)",
    "ml_safety": "Safety and fraud models",
    "affiliate_sharing": "Sharing with our affiliates",
    "third_party_sharing": "Sharing with third parties",
}

GROUP_NAMES = {
    "eea_ch": "the European Economic Area or Switzerland",
    "gb": "the United Kingdom",
    "hk": "Hong Kong",
    "ca": "Canada",
    "rest_of_world": "your region",
}

RULE_TEXT = {
    Rule.PROHIBITED: "is not allowed at all in {where}: no one's data there is used, whatever the setting",
    Rule.OPT_IN: "needs your permission in {where}: it is off unless you turn it on",
    Rule.OPT_OUT: "is on by default in {where} unless you turn it off",
    Rule.ALLOWED: "is always on in {where}; you cannot turn it off",
}

REASON_TEXT = {
    Reason.REGION_PROHIBITED: "The rules for where you live or signed in from do not allow it.",
    Reason.OPTED_OUT: "You turned it off.",
    Reason.NO_OPT_IN: "You have not turned it on.",
    Reason.OBJECTED: "You objected, and have not withdrawn your objection.",
    Reason.MINOR: "You are under {min_age}: we never use data of minors for this.",
    Reason.AGE_UNKNOWN: "We do not know your age, and this policy excludes members of unknown age.",
    Reason.ACCOUNT_CLOSED: "Your account is closed.",
    Reason.NO_POLICY_IN_FORCE: "No policy allowing it is in force.",
    Reason.UNKNOWN_JURISDICTION: "We do not know where you live, so we do not use it (we fail safe).",
    Reason.NON_MEMBER: "You are not a member.",
}


@dataclass
class PurposeView:
    purpose: str
    title: str
    used: bool
    reasons: list[str]
    rule: str | None
    region_group: str | None
    jurisdiction: str | None
    legal_basis: str | None
    current_choice: str | None
    choice_source: str | None
    objected: bool
    can_toggle: bool
    lines: list[str] = field(default_factory=list)
    never_used_kinds: list[str] = field(default_factory=list)


def age_at(birth: date | str | None, t: datetime) -> int | None:
    if birth is None:
        return None
    b = date.fromisoformat(birth) if isinstance(birth, str) else birth
    d = t.date()
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def countries_seen(signins: list[dict[str, Any]], now: datetime, lookback_days: int) -> list[str]:
    """Countries of the member's sign-ins in the look-back window (VPN exits count too)."""
    from consentry.policy.jurisdiction import resolve_ips

    since = now - timedelta(days=lookback_days)
    ips = [s["ip"] for s in signins if s.get("ip") and since <= _ts(s["at"]) <= now]
    if not ips:
        return []
    return sorted({c for c in resolve_ips(ips).column("country").to_pylist() if c})


def resolve(pv: PackVersion, purpose: str, residence: str | None, seen: list[str]) -> tuple[Rule | None, str | None, str | None, str | None]:
    """(rule, group, country, legal basis): the most protective over residence and sign-ins."""
    best: tuple[int, Any, str, str] | None = None
    for country in [residence, *seen]:
        group = pv.group_of(country)
        if group is None:
            continue
        gr = pv.rule_for(purpose, group)
        if gr is None:
            continue
        key = gr.rule.strictness
        if best is None or key > best[0]:
            best = (key, gr, group, country)
    if best is None:
        return None, None, None, None
    _, gr, group, country = best
    return gr.rule, group, country, gr.legal_basis.value


def latest_choices(events: list[dict[str, Any]], purpose: str, now: datetime, honour_gpc: bool) -> tuple[dict | None, bool]:
    """(latest opt-in/opt-out event, objected?) at or before `now`."""
    consent: dict | None = None
    objected = False
    for e in sorted((e for e in events if e["purpose"] == purpose and _ts(e["at"]) <= now),
                    key=lambda e: (_ts(e["at"]), e.get("seq", 0))):
        if e["choice"] in (Choice.OPT_IN, Choice.OPT_OUT):
            if e["source"] == "gpc" and not honour_gpc:
                continue
            consent = e
        elif e["choice"] == Choice.OBJECT:
            objected = True
        elif e["choice"] == Choice.WITHDRAW_OBJECTION:
            objected = False
    return consent, objected


def purpose_views(pack: Pack, profile: dict[str, Any] | None, events: list[dict[str, Any]],
                  signins: list[dict[str, Any]], now: datetime | None = None,
                  purposes: tuple[str, ...] = MEMBER_PURPOSES) -> list[PurposeView]:
    """The member's page, purpose by purpose (fail closed: unknown means not used)."""
    now = now or datetime.now(UTC)
    pv = pack.version_at(now)
    out: list[PurposeView] = []
    residence = (profile or {}).get("residence_country")
    seen = countries_seen(signins, now, pv.signin_lookback_days) if pv else []
    age = age_at((profile or {}).get("birth_date"), now)
    for purpose in purposes:
        reasons: list[str] = []
        lines: list[str] = []
        rule = group = country = basis = None
        consent, objected = None, False
        pol = pv.purposes.get(Purpose(purpose)) if pv else None
        if profile is None or profile.get("is_member") is False:
            reasons.append(Reason.NON_MEMBER)
        if pv is None or pol is None:
            reasons.append(Reason.NO_POLICY_IN_FORCE)
        else:
            rule, group, country, basis = resolve(pv, purpose, residence, seen)
            consent, objected = latest_choices(events, purpose, now, pol.honour_gpc)
            if rule is None:
                reasons.append(Reason.UNKNOWN_JURISDICTION)
            else:
                where = GROUP_NAMES.get(group or "", "your region")
                if group == "rest_of_world" and country:
                    where = f"your region ({country})"
                lines.append(f"Under the policy in force ({pack.label(pv)}), this "
                             + RULE_TEXT[rule].format(where=where) + ".")
                if country and country != residence:
                    lines.append(f"This applies because you signed in from {country} recently; we apply "
                                 "the most protective rule of where you live and where you signed in.")
                if rule is Rule.PROHIBITED:
                    reasons.append(Reason.REGION_PROHIBITED)
                elif rule is Rule.OPT_IN and (consent is None or consent["choice"] != Choice.OPT_IN):
                    reasons.append(Reason.NO_OPT_IN)
                elif rule is Rule.OPT_OUT and consent is not None and consent["choice"] == Choice.OPT_OUT:
                    reasons.append(Reason.OPTED_OUT)
            if objected and pol.honour_objection:
                reasons.append(Reason.OBJECTED)
            elif objected:  # recorded, not honoured: the member is told the pack's reason
                lines.append("You objected; this policy does not honour objections to this use. "
                             + (pol.objection_reason or ""))
            if pv.min_age is not None and age is not None and age < pv.min_age:
                reasons.append(Reason.MINOR)
            if age is None and pv.exclude_unknown_age:
                reasons.append(Reason.AGE_UNKNOWN)
            if profile and profile.get("closed_at"):
                reasons.append(Reason.ACCOUNT_CLOSED)
        for r in reasons:
            lines.append(REASON_TEXT.get(Reason(r), r).format(min_age=pv.min_age if pv else 18))
        if consent is not None:
            how = "by Global Privacy Control in your browser" if consent["source"] == "gpc" else f"via {consent['source']}"
            lines.append(f"Your choice: {'on' if consent['choice'] == Choice.OPT_IN else 'off'}, "
                         f"recorded {str(consent['at'])[:10]} {how}.")
        kinds = [k.value for k in pv.excluded_kinds_for(purpose)] if pv else []
        out.append(PurposeView(
            purpose=purpose, title=TITLES.get(purpose, purpose), used=not reasons,
            reasons=[str(r) for r in reasons], rule=rule.value if rule else None, region_group=group,
            jurisdiction=country, legal_basis=basis,
            current_choice=consent["choice"] if consent else None,
            choice_source=consent["source"] if consent else None, objected=objected,
            can_toggle=rule in (Rule.OPT_IN, Rule.OPT_OUT, Rule.PROHIBITED), lines=lines,
            never_used_kinds=kinds,
        ))
    return out
