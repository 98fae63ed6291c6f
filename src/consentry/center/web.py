"""Rendering helpers shared by the page routers: templates, flash messages, nonces.

Why: every page needs the same context (who is signed in, the CSRF token, the
flash messages of the previous POST, the GPC signal and what it still has to record) so that templates stay declarative and no
router can forget the CSRF token in a form.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from consentry.center.auth import csrf_token, session_member
from consentry.center.explain import TITLES
from consentry.center.sources import Sources

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["nonce"] = lambda: uuid.uuid4().hex
templates.env.filters["purpose_title"] = lambda p: TITLES.get(p, p)

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def sources(request: Request) -> Sources:
    return request.app.state.sources


def flash(request: Request, text: str, kind: str = "", receipt: str | None = None) -> None:
    request.session.setdefault("flash", [])
    request.session["flash"] = [*request.session["flash"], {"text": text, "kind": kind, "receipt": receipt}]


class LazyCsrf:
    """The session's CSRF token, made only when a template prints it: a page without a
    form (the home page of a crawler's visit) starts no server-side session."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def __str__(self) -> str:
        return csrf_token(self.request)


def render(request: Request, name: str, /, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    member = session_member(request)
    gpc = bool(getattr(request.state, "gpc", False))
    gpc_pending: list[str] = []
    if gpc and member:
        from consentry.center.gpc import pending  # the GPC router renders pages through here

        gpc_pending = pending(request, member)
    base = {
        "member": member,
        "gpc": gpc,
        "gpc_pending": gpc_pending,
        "admin": request.session.get("admin") is True,
        "csrf": LazyCsrf(request),
        "flashes": request.session.pop("flash", []),
        "active": ctx.pop("active", None),
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status_code)


def client_request_id(prefix: str, owner: str, nonce: Any) -> str:
    """An idempotency key for a form post: the form's nonce (a resubmission repeats it),
    scoped to its owner so one caller's nonce can never land on another's record."""
    n = nonce if isinstance(nonce, str) and NONCE_RE.match(nonce) else uuid.uuid4().hex
    return f"{prefix}:{owner}:{n}"


def shown_notice(request: Request, member: str | None) -> dict[str, Any] | None:
    """The privacy notice the member's choice forms show and carry (the latest one delivered
    to the member): a choice made in the center records the notice version the member saw."""
    return sources(request).latest_notice(member) if member else None


templates.env.globals["shown_notice"] = shown_notice
