"""Global Privacy Control, per the GPC specification.

Why this shape: the spec's signal is the `Sec-GPC: 1` request header (and
`navigator.globalPrivacyControl` in the page). `guard` reads the header on every
request to the center and the API. What it means comes from the pack, never from
code: every purpose whose policy in the pack version in force marks `honour_gpc`
gets an `opt_out` with source `gpc`, once per purpose (fixed client request id
`gpc:<member>:<purpose>`, so page and API cannot record it twice; a later explicit
choice still wins, being later). Nothing is recorded by a GET: member pages show the
signal and, while some honoured purpose has no GPC event yet, a form that the page's
script (`static/gpc.js`) posts to `POST /me/gpc` by itself (a button without script).
The platform's own clients record it through `POST /api/v1/members/{id}/gpc`
(the same events, source `gpc`). `/.well-known/gpc.json` states that this site honours GPC.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from consentry.center.auth import current_member, require_csrf
from consentry.center.sources import Sources
from consentry.center.web import flash, sources
from consentry.policy.packs import Pack
from consentry.vocab import Choice, Source

log = logging.getLogger("consentry.center")
router = APIRouter(tags=["gpc"], include_in_schema=False)
STATEMENT_UPDATED = date(2026, 12, 4)


def honoured_purposes(pack: Pack, now: datetime | None = None) -> list[str]:
    """The purposes whose policy in the pack version in force honours GPC (none before the first)."""
    pv = pack.version_at(now or datetime.now(UTC))
    return [p.value for p, pol in pv.purposes.items() if pol.honour_gpc] if pv else []


def crid(member: str, purpose: str) -> str:
    return f"gpc:{member}:{purpose}"


def pending(request: Request, member: str) -> list[str]:
    """Honoured purposes with no GPC event of this member yet."""
    have = {e["client_request_id"] for e in sources(request).events(member)}
    return [p for p in honoured_purposes(request.app.state.pack) if crid(member, p) not in have]


def record(src: Sources, member: str, purposes: list[str]) -> list[dict[str, Any]]:
    """One GPC opt-out per purpose (idempotent on its fixed client request id)."""
    out = [src.record_choice(member, p, Choice.OPT_OUT.value, Source.GPC.value, client_request_id=crid(member, p))
           for p in purposes]
    log.info("gpc opt-out recorded purposes=%d", len(purposes))
    return out


@router.post("/me/gpc", dependencies=[Depends(require_csrf)])
def record_signal(request: Request, member: str = Depends(current_member)) -> Response:
    """Record the browser's GPC signal; refused without `Sec-GPC: 1` on this very request."""
    if not request.state.gpc:
        raise HTTPException(400, "this request carries no Sec-GPC: 1 header; nothing was recorded")
    todo = pending(request, member)
    recs = record(sources(request), member, todo)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"recorded": todo, "receipts": [r["receipt"]["receipt_id"] for r in recs]})
    if todo:
        flash(request, "Your browser's Global Privacy Control signal is recorded as an opt-out.",
              receipt=recs[-1]["receipt"]["receipt_id"])
    return RedirectResponse("/me", status_code=303)


@router.get("/.well-known/gpc.json")
def statement() -> JSONResponse:
    """The site's GPC support resource (GPC spec, section "Well-known resource")."""
    return JSONResponse({"gpc": True, "lastUpdate": STATEMENT_UPDATED.isoformat()},
                        headers={"Cache-Control": "max-age=86400"})
