"""The privacy center application: `create_app(settings) -> FastAPI`.

Why this assembly: pages, admin and API are separate routers over one `Sources`
(ledger, export, snapshots, models); sessions, held objections and used sign-in links
live in small tables of the ledger's database, so the process holds no state beyond
the rate-limit counters. Around every request: `guard` (CSP and other headers,
`Cache-Control: no-store`, the body-size limit, the GPC signal), `TrustedHostMiddleware`
(only the public URL's host; links and redirects are relative or built from
`CONSENTRY_PUBLIC_URL`, never from the Host header) and `sessions`. The request log names only the route template and status
(never query strings, form fields or member data), so personal data cannot leak
into server logs; uvicorn's own access log is turned off by `consentry serve`.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match

from consentry.center import admin, api, api_requests, disclosure, gpc, member, objections, public
from consentry.center.auth import NotSignedIn
from consentry.center.config import CenterSettings
from consentry.center.guard import Guard
from consentry.center.ratelimit import RateLimits
from consentry.center.sessions import ServerSessions, SessionStore, engine_for
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
    `center` holds the center's credentials (env `CONSENTRY_*` when not given).
    Raises `config.SecretError` when the signing key is missing, empty or short."""
    settings = settings or Settings()
    center = center or CenterSettings()
    secret = center.signing_key(settings)  # first: never serve with a guessable key
    app = FastAPI(
        title="consentry privacy center API",
        version="1",
        description="Record members' choices and read decisions. Authenticate with `X-API-Key`.",
        openapi_tags=[{"name": "platform API", "description": "for the platform's own clients"}],
        docs_url=None, redoc_url=None,  # their pages need inline script and a CDN; /openapi.json stays
        redirect_slashes=False,  # a slash redirect would be built from the Host header
        max_body_size=center.max_body_bytes,  # Starlette's body limit: 413 past it
    )
    src = Sources(settings, ledger)
    app.state.settings = settings
    app.state.center = center
    app.state.sources = src
    app.state.secret = secret
    app.state.pack = load_pack(center.pack)
    app.state.used_links = UsedLinks(src.ledger.url)
    engine = engine_for(src.ledger.url)
    app.state.sessions = SessionStore(engine, center.session_max_age_s, center.presession_max_age_s)
    app.state.objections = objections.Objections(engine)
    app.state.rate_limits = RateLimits(center)

    @app.middleware("http")
    async def log_requests(request: Request, call_next):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        response = await call_next(request)
        access.info("%s %s %d %.1fms", request.method, _route_template(request), response.status_code,
                    (time.perf_counter() - t) * 1000)
        return response

    app.add_middleware(ServerSessions, store=app.state.sessions, https_only=center.https_only_cookies)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=center.host_names())
    app.add_middleware(Guard)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(public.router)
    app.include_router(disclosure.router)
    app.include_router(member.router)
    app.include_router(gpc.router)
    app.include_router(objections.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    app.include_router(api_requests.router)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse("/", status_code=303) if request.method == "GET" else _html_error(request, 401, "Please sign in first.")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        if request.url.path.startswith("/api/") or request.url.path.startswith("/openapi"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
        if exc.status_code == 401 and request.url.path.startswith("/admin"):
            return RedirectResponse("/admin/login", status_code=303)
        return _html_error(request, exc.status_code, str(exc.detail), headers)

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


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first route's)."""
    methods = set()
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            methods.add(method)
    return sorted(methods)


def _html_error(request: Request, status: int, text: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    resp = render(request, "message.html", status_code=status, heading="Sorry", kind="error", text=text, back="/")
    resp.headers.update(headers or {})
    return resp
