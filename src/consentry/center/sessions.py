"""Server-side sessions: the cookie carries a random id, the state lives in the ledger's database.

Why not a signed cookie: a signed cookie is valid until it expires, whatever the server
does, so a copy taken before sign-out kept opening `/me` and the admin pages. Here the
cookie holds 32 random bytes; table `center_sessions` holds their sha256 (a copy of the
table opens nothing), the owner and the state (CSRF token, flash messages). Sign-out
deletes the row; a sign-in issues a new id (no session fixation) and deletes every
other session of the same owner, so one sign-in ends the earlier ones. Several server
processes share the table. A pre-sign-in session (it holds the CSRF token of the
sign-in and objection forms) gets the short `presession_max_age_s`.

`ServerSessions` is a pure ASGI middleware that puts a dict at `scope["session"]`
(what `request.session` reads) and writes it back, before the response starts, only
when it changed. Routes change identity only through `begin` and `end`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, create_engine, delete, insert, select, update
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentry.ledger.models import CenterSession

COOKIE = "consentry_session"
SESSIONLESS = ("/static/", "/.well-known/")  # no database read for a stylesheet
table = cast(Table, CenterSession.__table__)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Rows of `center_sessions` (created by the ledger's migrations)."""

    def __init__(self, url: str | Engine, max_age_s: int, presession_max_age_s: int) -> None:
        self.engine = url if isinstance(url, Engine) else create_engine(url, pool_pre_ping=True)
        self.max_age_s, self.presession_max_age_s = max_age_s, presession_max_age_s

    def load(self, sid: str) -> dict[str, Any] | None:
        """The state of a live session; None for an unknown, ended or expired id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(table.c.data, table.c.expires_at)
                               .where(table.c.sid_hash == _hash(sid))).first()
        if row is None or row.expires_at <= datetime.now(UTC):
            return None
        return dict(row.data or {})

    def create(self, data: dict[str, Any], owner: str | None) -> str:
        """A new session id; with an owner, every other session of that owner ends."""
        sid = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        life = self.max_age_s if owner else self.presession_max_age_s
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.expires_at <= now))
            if owner:
                conn.execute(delete(table).where(table.c.owner == owner))
            conn.execute(insert(table).values(sid_hash=_hash(sid), owner=owner, data=data, created_at=now,
                                              expires_at=now + timedelta(seconds=life)))
        return sid

    def save(self, sid: str, data: dict[str, Any]) -> bool:
        """Write the state back; False when the session ended meanwhile (it is not revived)."""
        with self.engine.begin() as conn:
            n = conn.execute(update(table).where(table.c.sid_hash == _hash(sid)).values(data=data)).rowcount
        return n == 1

    def end(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.sid_hash == _hash(sid)))

    def count(self, owner: str) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(table.c.sid_hash).where(table.c.owner == owner)).all())


class SessionDict(dict):
    """`request.session`: a dict that knows whether it changed."""

    changed = False

    def _touch(self) -> None:
        self.changed = True

    def __setitem__(self, k: Any, v: Any) -> None:
        self._touch()
        super().__setitem__(k, v)

    def __delitem__(self, k: Any) -> None:
        self._touch()
        super().__delitem__(k)

    def clear(self) -> None:
        self._touch()
        super().clear()

    def pop(self, *a: Any) -> Any:
        if a and a[0] in self:
            self._touch()
        return super().pop(*a)

    def setdefault(self, k: Any, default: Any = None) -> Any:
        if k not in self:
            self._touch()
        return super().setdefault(k, default)

    def update(self, *a: Any, **kw: Any) -> None:
        self._touch()
        super().update(*a, **kw)


def begin(conn: HTTPConnection, owner: str, data: dict[str, Any]) -> None:
    """Sign in: this response gets a fresh session for `owner` holding `data`; the old
    id and every other session of `owner` end."""
    conn.session.clear()
    conn.session.update(data)
    conn.scope["session_begin"] = owner


def end(conn: HTTPConnection) -> None:
    """Sign out: the session's row is deleted and the cookie cleared."""
    conn.session.clear()
    conn.scope["session_end"] = True


class ServerSessions:
    def __init__(self, app: ASGIApp, store: SessionStore, https_only: bool = False) -> None:
        self.app, self.store = app, store
        self.flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if https_only else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(SESSIONLESS):
            await self.app(scope, receive, send)
            return
        sid = self._cookie(scope)
        data = await run_in_threadpool(self.store.load, sid) if sid else None
        if data is None:
            sid = None
        scope["session"] = session = SessionDict(data or {})

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                    session.changed or scope.get("session_begin") or scope.get("session_end")):
                cookie = await run_in_threadpool(self._commit, scope, sid, session)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _commit(self, scope: Scope, sid: str | None, session: SessionDict) -> str | None:
        """Persist the session; the Set-Cookie value to send, or None."""
        if scope.get("session_end"):
            if sid:
                self.store.end(sid)
            return f"{COOKIE}=; Max-Age=0{self.flags}"
        owner = scope.get("session_begin")
        if owner:
            if sid:
                self.store.end(sid)
            new = self.store.create(dict(session), owner)
            return f"{COOKIE}={new}; Max-Age={self.store.max_age_s}{self.flags}"
        if not session.changed:
            return None
        if sid and self.store.save(sid, dict(session)):
            return None
        if not session:
            return None
        new = self.store.create(dict(session), None)
        return f"{COOKIE}={new}; Max-Age={self.store.presession_max_age_s}{self.flags}"

    @staticmethod
    def _cookie(scope: Scope) -> str | None:
        """Our cookie's value, read with Starlette's lenient parser (another site cookie
        with odd characters must not sign the member out)."""
        for k, v in scope.get("headers", []):
            if k == b"cookie":
                value = cookie_parser(v.decode("latin-1")).get(COOKIE)
                if value:
                    return value
        return None

def engine_for(url: str) -> Engine:
    """An engine on the ledger's database for the center's own small tables."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800)
