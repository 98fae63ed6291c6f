"""Admin pages: eligibility and consent charts, open requests against legal deadlines,
snapshots and models with lineage, audit-chain verification (the Art. 53 summaries
are public: `disclosure.py`).

Why a separate credential: an administrator sees aggregates and request metadata
across members, which no member session may ever reach; admin sign-in is a token
from settings (`CONSENTRY_ADMIN_TOKEN`), compared in constant time, and the admin
session flag is never set by a member sign-in (and vice versa).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from consentry.center import charts, fulfil, sessions
from consentry.center.auth import check_admin_token, current_admin, require_csrf
from consentry.center.disclosure import model_rows
from consentry.center.ratelimit import limited
from consentry.center.web import client_request_id, flash, render, sources
from consentry.vocab import RequestKind

log = logging.getLogger("consentry.center")
router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)
guard = [Depends(current_admin)]


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render(request, "admin_login.html", configured=bool(request.app.state.center.admin_token))


@router.post("/login", dependencies=[Depends(limited("admin_login")), Depends(require_csrf)])
def login(request: Request, token: str = Form("")) -> Response:
    if not check_admin_token(request.app.state.center, token):
        log.info("admin sign-in refused")
        return render(request, "admin_login.html", status_code=401, error=True,
                      configured=bool(request.app.state.center.admin_token))
    sessions.begin(request, "admin", {"admin": True})
    log.info("admin signed in")
    return RedirectResponse("/admin", status_code=303)


def _latest_by_purpose(snaps: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in snaps:
        out[s.purpose] = s  # list_snapshots is oldest first
    return out


def eligibility_charts(snaps: list[Any]) -> list[dict[str, Any]]:
    """Per purpose: allowed/excluded by region group (latest snapshot), reasons over versions."""
    out = []
    by_purpose: dict[str, list[Any]] = defaultdict(list)
    for s in snaps:
        by_purpose[s.purpose].append(s)
    for purpose, versions in sorted(by_purpose.items()):
        latest = versions[-1]
        groups = latest.manifest.counts.get("by_region_group", {}) or {}
        cats = sorted(groups)
        series = {v: [groups[g].get(v, 0) for g in cats] for v in ("allowed", "excluded")}
        region_svg = charts.stacked_bars(f"{purpose}: items by region group ({latest.version})", cats, series)
        reasons = sorted({r for s in versions for r in (s.manifest.counts.get("by_reason") or {})})
        labels = [f"{s.version}\n{s.manifest.as_of.date()}" for s in versions]
        rseries = {r: [(s.manifest.counts.get("by_reason") or {}).get(r, 0) for s in versions] for r in reasons}
        rseries = {"included": [s.manifest.counts.get("included", 0) for s in versions], **rseries}
        reason_svg = charts.stacked_bars(f"{purpose}: included and excluded by reason, per snapshot", labels, rseries)
        out.append({"purpose": purpose, "region_svg": region_svg, "reason_svg": reason_svg, "groups": groups,
                    "cats": cats, "versions": versions, "reasons": reasons, "rseries": rseries, "labels": labels})
    return out


def consent_chart(events: list[dict[str, Any]]) -> tuple[str | None, list[tuple[str, dict[str, int]]]]:
    """Consent events per day and choice, as an SVG and as table rows."""
    per_day: dict[str, Counter] = defaultdict(Counter)
    for e in events:
        per_day[str(e["at"])[:10]][e["choice"]] += 1
    days = sorted(per_day)
    if not days:
        return None, []
    choices = sorted({c for d in per_day.values() for c in d})
    svg = charts.lines("Consent changes per day", days, {c: [per_day[d][c] for d in days] for c in choices})
    return svg, [(d, dict(per_day[d])) for d in days]


@router.get("", response_class=HTMLResponse, dependencies=guard)
def dashboard(request: Request) -> HTMLResponse:
    src = sources(request)
    snaps = src.snapshots()
    events = src.ledger.events_table().select(["at", "choice", "purpose", "source"]).to_pylist()
    consent_svg, consent_rows = consent_chart(events)
    rows = fulfil.open_requests(src)
    return render(request, "admin.html", active="admin", eligibility=eligibility_charts(snaps),
                  consent_svg=consent_svg, consent_rows=consent_rows, counts=src.ledger.counts(),
                  open_requests=len(rows), overdue=sum(r["overdue"] for r in rows))


@router.get("/requests", response_class=HTMLResponse, dependencies=guard)
def open_requests_page(request: Request) -> HTMLResponse:
    return render(request, "admin_requests.html", active="requests", rows=fulfil.open_requests(sources(request)))


def _open(request: Request, request_id: str, kinds: tuple[str, ...]) -> Any:
    rec = sources(request).ledger.request(request_id)
    if rec is None or rec.status not in fulfil.OPEN or rec.kind not in kinds:
        raise HTTPException(404, "no open request of this kind with this id")
    return rec


@router.post("/requests/{request_id}/fulfil", dependencies=[*guard, Depends(require_csrf)])
def fulfil_request(request: Request, request_id: str) -> Response:
    """Fulfil an export request now: the same bundle and closing as `consentry requests process`."""
    rec = _open(request, request_id, (RequestKind.EXPORT.value,))
    out = fulfil.fulfil_export(sources(request), request.app.state.pack, rec)
    log.info("admin fulfilled an export request status=%s", out.status)
    flash(request, f"Request {request_id}: {out.status}, {out.detail}.", kind="" if out.status == "processed" else "error")
    return RedirectResponse("/admin/requests", status_code=303)


def _run_erasure(src: Any, request_id: str) -> None:
    from consentry.forgetting.run import forget

    forget(request_id=request_id, settings=src.settings, ledger=src.ledger)


@router.post("/requests/{request_id}/erase", dependencies=[*guard, Depends(require_csrf)])
def erase_request(request: Request, request_id: str, background: BackgroundTasks) -> Response:
    """Run the forgetting workflow for one erasure request (as `consentry forget --request ID`);
    it closes the request itself when the erasure is complete, never before."""
    _open(request, request_id, fulfil.ERASE_KINDS)
    background.add_task(_run_erasure, sources(request), request_id)
    log.info("admin started an erasure")
    flash(request, f"Erasure of request {request_id} started; it closes when every copy is erased.")
    return RedirectResponse("/admin/requests", status_code=303)


@router.post("/requests/{request_id}/refuse", dependencies=[*guard, Depends(require_csrf)])
def refuse_request(request: Request, request_id: str, reason: str = Form("", max_length=1000),
                   nonce: str = Form("")) -> Response:
    """Close a request unanswered (e.g. manifestly unfounded, GDPR Art. 12(5)) with the reason given."""
    _open(request, request_id, fulfil.REQUEST_KINDS)
    try:
        fulfil.refuse(sources(request), request_id, reason,
                      client_request_id=client_request_id("refuse", request_id, nonce))
    except fulfil.RequestRefused as exc:
        flash(request, f"Not refused: {exc.message}.", kind="error")
        return RedirectResponse("/admin/requests", status_code=303)
    log.info("admin refused a request")
    flash(request, f"Request {request_id} refused; the member sees the reason.")
    return RedirectResponse("/admin/requests", status_code=303)


@router.get("/snapshots", response_class=HTMLResponse, dependencies=guard)
def snapshots_page(request: Request) -> HTMLResponse:
    src = sources(request)
    return render(request, "admin_snapshots.html", active="snapshots", snaps=src.snapshots(),
                  models=model_rows(request))


@router.get("/audit", response_class=HTMLResponse, dependencies=guard)
def audit(request: Request) -> HTMLResponse:
    report = sources(request).ledger.verify_chain()
    return render(request, "admin_audit.html", active="audit", report=report)
