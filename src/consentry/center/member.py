"""Member pages: choices, objections, erasure, export, timeline, history.

No route takes a member id: `current_member` reads it from the session (or the
trusted identity header) and refuses any request that names another member. Every
write goes to the ledger with an idempotency key, and its receipt is shown back.
A `Sec-GPC: 1` header records, once, an opt-out of affiliate and third-party
sharing with source `gpc` (the fixed client request id makes it idempotent; a
later explicit choice by the member still wins, being later).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from consentry.center import explain, timeline
from consentry.center.auth import current_member, require_csrf
from consentry.center.deadlines import deadline
from consentry.center.sources import Sources, plain
from consentry.center.web import client_request_id, flash, render, sources
from consentry.vocab import Choice, Purpose, RequestKind, Source

log = logging.getLogger("consentry.center")
router = APIRouter(prefix="/me", tags=["member pages"], include_in_schema=False)

GPC_PURPOSES = (Purpose.AFFILIATE_SHARING.value, Purpose.THIRD_PARTY_SHARING.value)
MEMBER_CHOICES = {c.value for c in Choice}


def apply_gpc(request: Request, src: Sources, member: str, events: list[dict[str, Any]]) -> bool:
    """Record the GPC opt-out once per purpose; True when the header is present."""
    if request.headers.get("sec-gpc", "").strip() != "1":
        return False
    have = {e["client_request_id"] for e in events}
    for purpose in GPC_PURPOSES:
        crid = f"gpc:{member}:{purpose}"
        if crid not in have:
            rec = src.record_choice(member, purpose, Choice.OPT_OUT, Source.GPC, client_request_id=crid)
            events.append(rec)
            log.info("gpc opt-out recorded purpose=%s", purpose)
    return True


def member_state(request: Request, member: str) -> dict[str, Any]:
    """Everything the member pages show, read once per request."""
    src = sources(request)
    events = src.events(member)
    gpc = apply_gpc(request, src, member, events)
    profile = src.profile(member)
    views = explain.purpose_views(request.app.state.pack, profile, events, src.signins(member))
    return {"src": src, "events": events, "gpc": gpc, "profile": profile, "views": views}


@router.get("", response_class=HTMLResponse)
def me(request: Request, member: str = Depends(current_member)) -> HTMLResponse:
    st = member_state(request, member)
    return render(request, "me.html", active="me", profile=st["profile"], views=st["views"], gpc=st["gpc"])


def notice_of_form(request: Request, member: str, notice_version: str) -> str | None:
    """The notice version a choice form carried (`web.shown_notice`), refused (422) unless it was
    delivered to the member; None when the form showed none (none delivered when it was drawn)."""
    if not notice_version:
        return None
    if not sources(request).notice_delivered(member, notice_version):
        raise HTTPException(422, "this privacy notice was never given to you; reload the page")
    return notice_version


@router.post("/choices", dependencies=[Depends(require_csrf)])
def set_choice(request: Request, purpose: str = Form(...), choice: str = Form(...), nonce: str = Form(""),
               notice_version: str = Form("", max_length=128),
               member: str = Depends(current_member)) -> Response:
    if purpose not in explain.MEMBER_PURPOSES or choice not in (Choice.OPT_IN, Choice.OPT_OUT):
        raise HTTPException(422, "unknown purpose or choice")
    rec = sources(request).record_choice(
        member, purpose, choice, Source.SETTINGS, client_request_id=client_request_id("settings", member, nonce),
        notice_version=notice_of_form(request, member, notice_version))
    log.info("choice recorded purpose=%s choice=%s", purpose, choice)
    state = "on" if choice == Choice.OPT_IN else "off"
    flash(request, f"Saved: “{explain.TITLES[purpose]}” is now {state}.", receipt=rec["receipt"]["receipt_id"])
    return RedirectResponse("/me", status_code=303)


@router.get("/object", response_class=HTMLResponse)
def object_form(request: Request, purpose: str = "", member: str = Depends(current_member)) -> HTMLResponse:
    st = member_state(request, member)
    return render(request, "object.html", active="me", views=st["views"], selected=purpose)


@router.post("/object", dependencies=[Depends(require_csrf)])
def object_submit(request: Request, purpose: str = Form(...), choice: str = Form(Choice.OBJECT.value),
                  notice_version: str = Form("", max_length=128),
                  nonce: str = Form(""), member: str = Depends(current_member)) -> Response:
    if purpose not in explain.MEMBER_PURPOSES or choice not in (Choice.OBJECT, Choice.WITHDRAW_OBJECTION):
        raise HTTPException(422, "unknown purpose or choice")
    rec = sources(request).record_choice(
        member, purpose, choice, Source.OBJECTION_FORM,
        client_request_id=client_request_id("objection", member, nonce),
        notice_version=notice_of_form(request, member, notice_version))
    log.info("objection recorded purpose=%s choice=%s", purpose, choice)
    verb = "objection is recorded" if choice == Choice.OBJECT else "objection is withdrawn"
    flash(request, f"Your {verb} for “{explain.TITLES[purpose]}”.", receipt=rec["receipt"]["receipt_id"])
    return RedirectResponse("/me", status_code=303)


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, member: str = Depends(current_member)) -> HTMLResponse:
    src = sources(request)
    return render(request, "requests.html", active="requests", items=src.items(member),
                  requests=src.requests(member))


@router.post("/erase", dependencies=[Depends(require_csrf)])
async def erase(request: Request, member: str = Depends(current_member)) -> Response:
    form = await request.form()
    kind = form.get("kind")
    item_ids = [str(i) for i in form.getlist("item_ids")]
    erase_kinds = (RequestKind.ERASE_ITEMS, RequestKind.ERASE_ACCOUNT, RequestKind.ERASE_AI_DATA)
    if kind not in erase_kinds:
        raise HTTPException(422, "unknown request kind")
    src = sources(request)
    if kind == RequestKind.ERASE_ITEMS:
        mine = {i["item_id"] for i in src.items(member)}
        if not item_ids or not set(item_ids) <= mine:
            flash(request, "Select at least one of your own items to erase.", kind="error")
            return RedirectResponse("/me/requests", status_code=303)
    else:
        item_ids = []
    profile = src.profile(member) or {}
    law, due = deadline(datetime.now(UTC), profile.get("residence_country"))
    rec = src.record_request(member, str(kind), item_ids or None, deadline=due,
                             client_request_id=client_request_id("request", member, form.get("nonce")))
    log.info("request recorded kind=%s", kind)
    flash(request, f"We received your request ({str(kind).replace('_', ' ')}). Under {law.name} we answer by "
                   f"{due.date().isoformat()}.", receipt=rec["request_id"])
    return RedirectResponse("/me/requests", status_code=303)


def export_document(request: Request, member: str) -> dict[str, Any]:
    st = member_state(request, member)
    src: Sources = st["src"]
    return {
        "format": "consentry.member-export/1",
        "generated_at": plain(datetime.now(UTC)),
        "member_id": member,
        "profile": st["profile"],
        "items": src.items(member),
        "choices": st["events"],
        "requests": src.requests(member),
        "decisions": [plain(v) for v in st["views"]],
        "lineage": src.lineage(member),
        "models": src.models_for(member),
        "forget_receipts": src.receipts(member),
    }


@router.get("/export.json")
def export(request: Request, member: str = Depends(current_member)) -> Response:
    doc = export_document(request, member)
    log.info("export downloaded")
    return Response(json.dumps(doc, indent=2, ensure_ascii=False, default=str), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="my-data.json"',
                             "Cache-Control": "no-store"})


@router.get("/timeline", response_class=HTMLResponse)
def timeline_page(request: Request, member: str = Depends(current_member)) -> HTMLResponse:
    src = sources(request)
    entries = timeline.build(src.events(member), src.requests(member), src.lineage(member),
                             src.models_for(member), src.receipts(member))
    return render(request, "timeline.html", active="timeline", entries=entries)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, member: str = Depends(current_member)) -> HTMLResponse:
    return render(request, "history.html", active="history", events=sources(request).events(member),
                  titles=explain.TITLES)
