"""Per purpose, for one member: is their data used, and why, in plain language.

Why no rule lives here: the decision is the plan's (`consentry.policy.plan`), asked
for this one member with the filter pushed into every input (`decide_members`), over
the staged export plus the ledger (`Sources.register_plan_inputs`), exactly what
`consentry decide`, `consentry explain` and `snapshot build` read. This module only
words the answer: the rule of the member's group in the pack version in force, where
it applies (the pack's group names), the member's latest recorded choice, and each
reason in the vocabulary. The API returns the same views.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consentry.policy.decide import decide_members
from consentry.policy.explain import REASON_SHORT
from consentry.policy.packs import DEFAULT_GROUP, Pack
from consentry.policy.requirements import MissingInputError
from consentry.vocab import Choice, Purpose, Reason, Rule

log = logging.getLogger("consentry.center")

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
    Reason.ERASED: "You asked us to erase your data.",
    Reason.NOT_NOTIFIED: "We have not told you about this use long enough in advance.",
    Reason.NOT_YET_CREATED: "Your account did not exist yet.",
    Reason.MALFORMED: "Our records about you are incomplete or inconsistent, so we do not use your data (we fail safe).",
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


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def latest_choices(events: list[dict[str, Any]], purpose: str, now: datetime) -> tuple[dict | None, bool]:
    """(the member's latest opt-in/opt-out event, have they objected?) at or before `now`:
    what the page shows as the member's own setting; whether it counts is the plan's call."""
    consent: dict | None = None
    objected = False
    for e in sorted((e for e in events if e["purpose"] == purpose and _ts(e["at"]) <= now),
                    key=lambda e: (_ts(e["at"]), e.get("seq", 0))):
        if e["choice"] in (Choice.OPT_IN, Choice.OPT_OUT):
            consent = e
        elif e["choice"] == Choice.OBJECT:
            objected = True
        elif e["choice"] == Choice.WITHDRAW_OBJECTION:
            objected = False
    return consent, objected


def decisions(src: Any, pack: Pack, member_id: str, now: datetime,
              purposes: tuple[str, ...]) -> dict[str, dict[str, Any]] | str:
    """The plan's member-level row per purpose (`decide_members`), for one member at `now`;
    a one-line reason instead when the export lacks what the pack needs (then nothing is used)."""
    con = src.duck.cursor()
    try:
        src.register_plan_inputs(con, member_id)
        rows = decide_members(con, pack, purposes, now, member_id=member_id).to_arrow_table().to_pylist()
        return {r["purpose"]: r for r in rows}
    except MissingInputError as exc:
        log.warning("member decisions refused: %s", exc)
        return str(exc)
    finally:
        con.close()


def purpose_views(pack: Pack, src: Any, member_id: str, profile: dict[str, Any] | None,
                  events: list[dict[str, Any]], now: datetime | None = None,
                  purposes: tuple[str, ...] = MEMBER_PURPOSES) -> list[PurposeView]:
    """The member's page, purpose by purpose, worded from the plan's decision (fail closed:
    a member the plan has no row for, or an export it cannot decide on, is not used)."""
    now = now or datetime.now(UTC)
    pv = pack.version_at(now)
    decided = decisions(src, pack, member_id, now, purposes)
    refused = decided if isinstance(decided, str) else None
    residence = ((profile or {}).get("residence_country") or "").strip().upper() or None
    out: list[PurposeView] = []
    for purpose in purposes:
        row = None if refused else decided.get(purpose)
        pol = pv.purposes.get(Purpose(purpose)) if pv else None
        lines: list[str] = []
        if row is None:
            reasons = [Reason.MALFORMED.value]
            group = country = basis = None
            lines.append(refused or "We have no usable record of you in the data we decide on, so we do not use "
                                    "your data (we fail safe).")
        else:
            reasons = [str(r) for r in row["reasons"]]
            group, country = row["region_group"], row["jurisdiction"]
            basis = row["legal_basis"] if row["legal_basis"] != "none" else None
        gr = pv.rule_for(purpose, group) if pv and pol and group else None
        rule = gr.rule if gr else None
        if rule is not None:
            where = pv.group_name(group)
            if group == DEFAULT_GROUP and country:
                where = f"{where} ({country})"
            lines.append(f"Under the policy in force ({pack.label(pv)}), this " + RULE_TEXT[rule].format(where=where) + ".")
            if country and country != residence:
                lines.append(f"This applies because you signed in from {country} recently; we apply "
                             "the most protective rule of where you live and where you signed in.")
        consent, objected = latest_choices(events, purpose, now)
        if objected and pol is not None and not pol.honour_objection:
            lines.append("You objected; this policy does not honour objections to this use. "
                         + (pol.objection_reason or ""))
        for r in reasons:
            text = REASON_TEXT.get(Reason(r)) or REASON_SHORT[Reason(r)].capitalize() + "."
            lines.append(text.format(min_age=pv.min_age if pv else 18))
        if consent is not None:
            how = "by Global Privacy Control in your browser" if consent["source"] == "gpc" else f"via {consent['source']}"
            lines.append(f"Your choice: {'on' if consent['choice'] == Choice.OPT_IN else 'off'}, "
                         f"recorded {str(consent['at'])[:10]} {how}.")
        kinds = [k.value for k in pv.excluded_kinds_for(purpose)] if pv else []
        out.append(PurposeView(
            purpose=purpose, title=TITLES.get(purpose, purpose), used=row is not None and bool(row["used"]),
            reasons=reasons, rule=rule.value if rule else None, region_group=group,
            jurisdiction=country, legal_basis=basis,
            current_choice=consent["choice"] if consent else None,
            choice_source=consent["source"] if consent else None, objected=objected,
            can_toggle=rule in (Rule.OPT_IN, Rule.OPT_OUT, Rule.PROHIBITED), lines=lines,
            never_used_kinds=kinds,
        ))
    return out
