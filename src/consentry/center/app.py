"""The privacy center application: `create_app(settings) -> FastAPI`.

Why this assembly: pages, admin and API are separate routers over one `Sources`
(ledger, export, snapshots, models); the app holds no state beyond them and the
signed session cookie. The request log names only the route template and status
(never query strings, form fields or member data), so personal data cannot leak
into server logs; uvicorn's own access log is turned off by `consentry serve`.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from consentry.center import admin, api, api_requests, disclosure, member, public
from consentry.center.auth import NotSignedIn
from consentry.center.config import CenterSettings
from consentry.center.sources import Sources
from consentry.center.tokens import UsedLinks
from consentry.center.web import HERE, render
from consentry.ledger import validate
from consentry.ledger.store import Ledger, LedgerConflict
from consentry.policy.packs import load_pack
from consentry.settings import Settings

log = logging.getLogger("consentry.center")
access = logging.getLogger("consentry.center.access")


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "<unmatched>"


def create_app(settings: Settings | None = None, center: CenterSettings | None = None,
               ledger: Ledger | None = None) -> FastAPI:
    """The ASGI app. `settings` locate the ledger, export, snapshots and models;
    `center` holds the center's credentials (env `CONSENTRY_*` when not given)."""
    settings = settings or Settings()
    center = center or CenterSettings()
    app = FastAPI(
        title="consentry privacy center API",
        version="1",
        description="Record members' choices and read decisions. Authenticate with `X-API-Key`.",
        openapi_tags=[{"name": "platform API", "description": "for the platform's own clients"}],
    )
    src = Sources(settings, ledger)
    app.state.settings = settings
    app.state.center = center
    app.state.sources = src
    app.state.secret = center.signing_key(settings)
    app.state.pack = load_pack(center.pack)
    app.state.used_links = UsedLinks(src.ledger.url)
    app.add_middleware(SessionMiddleware, secret_key=app.state.secret, session_cookie="consentry_session",
                       max_age=center.session_max_age_s, same_site="lax", https_only=center.https_only_cookies)

    @app.middleware("http")
    async def log_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        access.info("%s %s %d %.1fms", request.method, _route_template(request), response.status_code,
                    (time.perf_counter() - t) * 1000)
        return response

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(public.router)
    app.include_router(disclosure.router)
    app.include_router(member.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    app.include_router(api_requests.router)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse("/", status_code=303) if request.method == "GET" else _html_error(request, 401, "Please sign in first.")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.startswith("/openapi"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401 and request.url.path.startswith("/admin"):
            return RedirectResponse("/admin/login", status_code=303)
        return _html_error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(validate.FieldError)
    async def refused_write(request: Request, exc: validate.FieldError) -> Response:
        # The ledger refused a field (fail closed): the caller's fault, never a 500.
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": [{"loc": [exc.field], "msg": exc.message}]}, status_code=422)
        return _html_error(request, 422, "The ledger refused this request; nothing was recorded.")

    @app.exception_handler(LedgerConflict)
    async def conflict(request: Request, exc: LedgerConflict) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=409)
        return _html_error(request, 409, "This form was already sent with different content; reload the page.")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Field names and messages only: the offending values may be personal data.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": errors}, status_code=422)
        return _html_error(request, 422, "Some of the form fields were missing or not valid.")

    return app


def _html_error(request: Request, status: int, text: str) -> HTMLResponse:
    return render(request, "message.html", status_code=status, heading="Sorry", kind="error", text=text, back="/")
