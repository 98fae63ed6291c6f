"""Response headers, the request-size limit and the GPC signal, for every request.

Why here and as pure ASGI middleware: they must hold for every route, including
404s, static files and errors raised before a route runs, so no router can forget
them.

- Content-Security-Policy: scripts and styles only from our own origin, no inline
  script, no framing, forms post only to us. The pages' one script (`static/gpc.js`)
  is a file.
- `Cache-Control: no-store` on every response but static files and the public GPC
  statement: member and admin pages carry personal data and CSRF tokens.
- Bodies over `max_body_bytes` get 413 before a route reads them (Content-Length),
  or as soon as the streamed body passes the limit.
- `Sec-GPC: 1` is read on every request into `request.state.gpc` (the GPC spec's
  header); what it records is decided by `consentry.center.gpc`, never on a GET.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
CACHEABLE = ("/static/", "/.well-known/")
FIXED_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class BodyTooLarge(HTTPException):
    """Raised while reading a streamed body; an HTTPException so the app answers 413
    (FastAPI turns any other error while parsing a body into 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def gpc_signal(scope: Scope) -> bool:
    """True when the request carries `Sec-GPC: 1` (the only value the spec defines)."""
    return any(k == b"sec-gpc" and v.strip() == b"1" for k, v in scope.get("headers", []))


class Guard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["gpc"] = gpc_signal(scope)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for k, v in FIXED_HEADERS.items():
                    headers[k] = v
                if not scope["path"].startswith(CACHEABLE):
                    headers["cache-control"] = "no-store"
            await send(message)

        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(scope, send_with_headers)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, send_with_headers)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        text = f"the request body is larger than {self.max_body_bytes} bytes"
        if scope["path"].startswith("/api/"):
            body, ctype = json.dumps({"detail": text}).encode(), b"application/json"
        else:
            body, ctype = f"Request too large: {text}.".encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
