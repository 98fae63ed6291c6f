"""Member pages: choices, objections, erasure, export, timeline, history.

No route takes a member id: `current_member` reads it from the session (or the
trusted identity header) and refuses any request that names another member. Every
write goes to the ledger with an idempotency key, and its receipt is shown back.
GPC is recorded by `consentry.center.gpc` (a POST, never a GET side effect).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from consentry.center import explain, fulfil, timeline
from consentry.center.auth import current_member, require_csrf
from consentry.center.deadlines import law_for
from consentry.center.web import client_request_id, flash, render, sources
from consentry.vocab import Choice, Purpose, RequestKind, Source

log = logging.getLogger("consentry.center")
router = APIRouter(prefix="/me", tags=["member pages"], include_in_schema=False)

# Shown on the page and open to objection: the member purposes plus safety, which the
# member cannot switch off but may object to (the pack says whether that is honoured).
PAGE_PURPOSES = (*explain.MEMBER_PURPOSES, Purpose.ML_SAFETY.value)
MEMBER_CHOICES = {c.value for c in Choice}


def member_state(request: Request, member: str) -> dict[str, Any]:
    """Everything the member pages show, read once per request."""
    src = sources(request)
    events = src.events(member)
    profile = src.profile(member)
    views = explain.purpose_views(request.app.state.pack, src, member, profile, events, purposes=PAGE_PURPOSES)
    return {"src": src, "events": events, "profile": profile, "views": views}


@router.get("", response_class=HTMLResponse)
def me(request: Request, member: str = Depends(current_member)) -> HTMLResponse:
    st = member_state(request, member)
    return render(request, "me.html", active="me", profile=st["profile"], views=st["views"])


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
    if purpose not in PAGE_PURPOSES or choice not in (Choice.OBJECT, Choice.WITHDRAW_OBJECTION):
        raise HTTPException(422, "unknown purpose or choice")
    rec = sources(request).record_choice(
        member, purpose, choice, Source.OBJECTION_FORM,
        client_request_id=client_request_id("objection", member, nonce),
        notice_version=notice_of_form(request, member, notice_version))
    log.info("objection recorded purpose=%s choice=%s", purpose, choice)
    verb = "objection is recorded" if choice == Choice.OBJECT else "objection is withdrawn"
    pv = request.app.state.pack.version_at(datetime.now(UTC))
    pol = pv.purposes.get(Purpose(purpose)) if pv else None
    refused = f" It is not honoured under this policy: {pol.objection_reason}" if (
        choice == Choice.OBJECT and pol is not None and not pol.honour_objection) else ""
    flash(request, f"Your {verb} for “{explain.TITLES[purpose]}”.{refused}", receipt=rec["receipt"]["receipt_id"])
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
    if kind != RequestKind.ERASE_ITEMS:
        item_ids = []
    try:
        rec = fulfil.file_request(src, member, str(kind), item_ids,
                                  client_request_id=client_request_id("request", member, form.get("nonce")))
    except fulfil.RequestRefused:
        flash(request, "Select at least one of your own items to erase.", kind="error")
        return RedirectResponse("/me/requests", status_code=303)
    law = law_for((src.profile(member) or {}).get("residence_country"))
    due = datetime.fromisoformat(rec["deadline"])
    log.info("request recorded kind=%s", kind)
    flash(request, f"We received your request ({str(kind).replace('_', ' ')}). Under {law.name} we answer by "
                   f"{due.date().isoformat()}.", receipt=rec["request_id"])
    return RedirectResponse("/me/requests", status_code=303)


def export_document(request: Request, member: str) -> dict[str, Any]:
    member_state(request, member)  # as every member page does (GPC)
    return fulfil.export_bundle(sources(request), request.app.state.pack, member)


@router.get("/export.json")
def export(request: Request, member: str = Depends(current_member)) -> Response:
    doc = export_document(request, member)
    log.info("export downloaded")
    return Response(json.dumps(doc, indent=2, ensure_ascii=False, default=str), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="my-data.json"',
                             "Cache-Control": "no-store"})


@router.get("/requests/export.json")
def fulfilled_export(request: Request, request_id: str = Query(..., alias="request", max_length=128),
                     member: str = Depends(current_member)) -> Response:
    """The bundle an export request of the member's was fulfilled with (404 for anyone else's;
    the request id is a query parameter: no member route has a path parameter)."""
    data = fulfil.read_bundle(sources(request), member, request_id)
    if data is None:
        raise HTTPException(404, "no fulfilled export request of yours with this id")
    return Response(data, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="my-data-{request_id}.json"', "Cache-Control": "no-store"})


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
