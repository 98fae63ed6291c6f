"""Response headers and the GPC signal, for every request.

Why here and as pure ASGI middleware: they must hold for every route, including
404s, static files and errors raised before a route runs, so no router can forget
them.

- Content-Security-Policy: scripts and styles only from our own origin, no inline
  script, no framing, forms post only to us. The pages' one script (`static/gpc.js`)
  is a file.
- `Cache-Control: no-store` on every response but static files and the public GPC
  statement: member and admin pages carry personal data and CSRF tokens.
- (The request-size limit is Starlette's `RequestBodyLimitMiddleware`, through
  `FastAPI(max_body_size=...)`: 413 as soon as a body read passes it.)
- `Sec-GPC: 1` is read on every request into `request.state.gpc` (the GPC spec's
  header); what it records is decided by `consentry.center.gpc`, never on a GET.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
CACHEABLE = ("/static/", "/.well-known/")
FIXED_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would make browsers send `Origin: null` on our own forms
    "x-frame-options": "DENY",
}


def gpc_signal(scope: Scope) -> bool:
    """True when the request carries `Sec-GPC: 1` (the only value the spec defines)."""
    return any(k == b"sec-gpc" and v.strip() == b"1" for k, v in scope.get("headers", []))


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["gpc"] = gpc_signal(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in FIXED_HEADERS.items():
                    headers[k] = v
                if not scope["path"].startswith(CACHEABLE):
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
