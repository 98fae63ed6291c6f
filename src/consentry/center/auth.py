"""Who is asking: members, admins and platform API clients, each by its own credential.

Why this shape: a member's identity comes only from the server-side session (or, in
production, from a header set by a trusted proxy), never from a route or a
parameter, so no URL can name another member. Any request that tries to (a
`member_id`-like parameter that is not the caller) is refused outright rather than
silently ignored, so a confused client learns at once. Every form carries a CSRF
token bound to the (server-side) session, and a browser's `Origin` must be the public
URL's; the sign-in forms carry one too, from a pre-sign-in session, so an attacker's
page cannot sign a victim in to the attacker's account (login CSRF). Admins sign in with a separate token; API clients send
`X-API-Key`. Sign-in links are signed, expiring and single-use (used link ids are
recorded in a small table in the ledger database, see `tokens`).
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from consentry.center.config import CenterSettings

LINK_SALT = "consentry.member-link"
MEMBER_ID_PARAMS = frozenset({"member_id", "member", "memberid", "mid", "member-id", "user", "user_id", "id"})

MEMBER_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="platform API key")


class NotSignedIn(Exception):
    """Raised by `current_member`; the app turns it into a redirect to the home page."""


def link_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=LINK_SALT)


def make_link_token(secret: str, member_id: str) -> tuple[str, str]:
    """A signed sign-in token for `member_id` and its unique id (to make it single-use)."""
    jti = uuid.uuid4().hex
    return link_serializer(secret).dumps({"m": member_id, "j": jti}), jti


def signin_url(public_url: str, secret: str, member_id: str) -> str:
    """The one-time sign-in link `consentry member-link` and the demo print."""
    token, _ = make_link_token(secret, member_id)
    return f"{public_url.rstrip('/')}/signin?token={token}"


def read_link_token(secret: str, token: str, max_age_s: int) -> tuple[str, str] | None:
    """(member_id, jti) for a valid, unexpired token; None for anything else."""
    try:
        data = link_serializer(secret).loads(token, max_age=max_age_s)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("m"), str) or not isinstance(data.get("j"), str):
        return None
    return data["m"], data["j"]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use; rendered into every form."""
    tok = request.session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(32)
        request.session["csrf"] = tok
    return tok


def same_origin(request: Request) -> bool:
    """A browser's form post names its page's origin (`Origin`, else `Referer`); it must be
    the public URL's. No header at all is not a browser (the CSRF token still decides)."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True
        p = urlsplit(referer)
        origin = f"{p.scheme}://{p.netloc}"
    return origin.lower() == request.app.state.center.origin()


async def require_csrf(request: Request) -> None:
    """Refuse a state-changing form from another origin, or whose `csrf_token` does not
    match the session's."""
    if not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this form was sent from another site")
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or invalid CSRF token; reload the page")


def center_settings(request: Request) -> CenterSettings:
    return request.app.state.center


def session_member(request: Request) -> str | None:
    """The member signed in on this request, by trusted header (when configured) or session.
    A value that is not a well-formed member id counts as nobody (fail closed)."""
    cs: CenterSettings = request.app.state.center
    member = None
    if cs.identity_header:
        member = request.headers.get(cs.identity_header, "").strip() or None
    if member is None:
        member = request.session.get("member_id")
    return member if isinstance(member, str) and MEMBER_ID_RE.fullmatch(member) else None


async def current_member(request: Request) -> str:
    """The caller's member id. Refuses (403) any attempt to name another member."""
    member = session_member(request)
    if member is None:
        raise NotSignedIn()
    named = [v for k, v in request.query_params.multi_items() if k.lower() in MEMBER_ID_PARAMS]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            named += [v for k, v in form.multi_items() if k.lower() in MEMBER_ID_PARAMS]
    if any(v != member for v in named):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you can only see and change your own data")
    return member


def current_admin(request: Request) -> bool:
    """Admin pages need the admin session flag, set only by the admin token."""
    if request.session.get("admin") is not True:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "admin sign-in required", headers={"Location": "/admin/login"})
    return True


def check_admin_token(cs: CenterSettings, sent: str) -> bool:
    return bool(cs.admin_token) and hmac.compare_digest(sent.encode(), cs.admin_token.encode())


def require_api_key(
    key: str | None = Security(api_key_header), cs: CenterSettings = Depends(center_settings)
) -> str:
    """Platform clients: a configured key in `X-API-Key`, compared in constant time."""
    if key and any(hmac.compare_digest(key.encode(), k.encode()) for k in cs.api_key_set()):
        return key
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key is required")
