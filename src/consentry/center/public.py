"""Pages without a member session: home, sign-in by one-time link, sign-out, and the
non-member objection form.

Why the sign-in link needs a click: GET only shows a button and POST consumes the
link, so a mail scanner or link preview fetching the URL cannot use up (or use) it.
That button's form carries the CSRF token of a pre-sign-in session and must come
from our own origin, so another site cannot sign a visitor in to the attacker's
account (login CSRF). Sign-in starts a new server-side session and ends the member's
earlier ones; sign-out deletes the session. Sign-in and the objection form are rate
limited per client address. The non-member form holds the name for an admin
(`objections`); only a confirmed name reaches the ledger's redaction list.
"""

from __future__ import annotations

import hashlib
import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from consentry.center import sessions
from consentry.center.auth import read_link_token, require_csrf
from consentry.center.objections import refusal
from consentry.center.ratelimit import limited
from consentry.center.web import client_request_id, render

log = logging.getLogger("consentry.center")
router = APIRouter(tags=["pages"], include_in_schema=False)


def _who(name: str, contact: str) -> str:
    """A non-reversible owner key for the idempotency id (the name itself never goes in it)."""
    return hashlib.sha256(f"{name}\0{contact}".encode()).hexdigest()[:16]


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, token: str = "") -> HTMLResponse:
    cs = request.app.state.center
    valid = read_link_token(request.app.state.secret, token, cs.link_max_age_s) is not None
    return render(request, "signin.html", status_code=200 if valid else 400, valid=valid, token=token)


@router.post("/signin", dependencies=[Depends(limited("signin")), Depends(require_csrf)])
def signin(request: Request, token: str = Form("")) -> Response:
    cs = request.app.state.center
    got = read_link_token(request.app.state.secret, token, cs.link_max_age_s)
    if got is None or not request.app.state.used_links.use(got[1]):
        log.info("sign-in refused")
        return render(request, "signin.html", status_code=400, valid=False, token="")
    member, _ = got
    sessions.begin(request, f"member:{member}", {"member_id": member})
    log.info("member signed in")
    return RedirectResponse("/me", status_code=303)


@router.post("/signout", dependencies=[Depends(require_csrf)])
def signout(request: Request) -> Response:
    sessions.end(request)
    return RedirectResponse("/", status_code=303)


@router.get("/object", response_class=HTMLResponse)
def nonmember_form(request: Request) -> HTMLResponse:
    return render(request, "nonmember.html", active="object")


@router.post("/object", dependencies=[Depends(limited("objection")), Depends(require_csrf)])
def nonmember_submit(request: Request, name: str = Form(..., max_length=200), contact: str = Form(..., max_length=200),
                     nonce: str = Form("")) -> Response:
    name, contact = " ".join(name.split()), contact.strip()
    if len(name) < 2 or not contact:
        return render(request, "message.html", status_code=422, heading="Objection not sent", kind="error",
                      text="Please give your name and a way to reach you.", back="/object")
    why = refusal(name, request.app.state.pack)
    if why:
        log.info("non-member objection refused")
        return render(request, "message.html", status_code=422, heading="Objection not accepted", kind="error",
                      text=f"We cannot accept this name: {why}.", back="/object")
    request.app.state.objections.submit(name, contact, client_request_id("nonmember", _who(name, contact), nonce))
    log.info("non-member objection held for review")
    return render(request, "message.html", heading="Objection received",
                  text="Thank you. Once an administrator has confirmed it, your name will be removed from all "
                       "training data built from then on. We may contact you to confirm.", back="/")
