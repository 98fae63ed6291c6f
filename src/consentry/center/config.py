"""The privacy center's own settings (env `CONSENTRY_*`), beside the shared `Settings`.

Why separate: the center needs secrets and credentials (signing key, admin token,
API keys, the trusted identity header) that no other module should see. The signing
key must be the same for `consentry member-link` and `consentry serve`; it is never
made up on the fly by a server (an empty or guessable key would sign anyone's
cookie): `consentry center-secret` creates it once, atomically, in the home
directory (mode 0600), and the center refuses to start without a long enough one.
Limits (request size, rate limits) live here so a deployment, and a test, can set them.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consentry.settings import Settings

MIN_SECRET_CHARS = 32
SECRET_FILE = "center_secret"
HOW_TO_MAKE_A_SECRET = ("create one with `consentry center-secret` (writes $CONSENTRY_HOME/center_secret, mode 0600) "
                        f"or set CONSENTRY_SECRET_KEY to at least {MIN_SECRET_CHARS} random characters")


class SecretError(RuntimeError):
    """The signing key is missing, empty or too short; the message says how to make one."""


class CenterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_", extra="ignore")

    secret_key: str | None = None
    admin_token: str | None = Field(default=None, description="credential for /admin (separate from members)")
    api_keys: str | None = Field(default=None, description="comma-separated keys accepted in X-API-Key")
    identity_header: str | None = Field(
        default=None,
        description="production: name of a header set by a trusted proxy carrying the member id",
    )
    pack: str = "linkedin-2024"
    public_url: str = Field("http://127.0.0.1:8000", description="the only base of links, redirects and Origin")
    allowed_hosts: str = Field("", description="comma-separated Host names accepted besides public_url's")
    link_max_age_s: int = 15 * 60
    session_max_age_s: int = 8 * 3600
    presession_max_age_s: int = Field(3600, description="a session nobody signed in to (it holds a CSRF token)")
    https_only_cookies: bool = False
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="larger request bodies get 413")
    rate_signin: str = Field("10/minute", description="POST /signin per client address")
    rate_admin_login: str = Field("5/15minutes", description="POST /admin/login per client address (every try counts)")
    rate_objection: str = Field("5/hour", description="POST /object (non-member objections) per client address")
    rate_limit_storage: str = Field("memory://", description="`limits` storage URI; memory is per process")

    @field_validator("rate_signin", "rate_admin_login", "rate_objection")
    @classmethod
    def _limit(cls, value: str) -> str:
        parse_limit(value)  # raises ValueError naming the string when it is not e.g. "10/minute"
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as https://privacy.example.com")
        return value.rstrip("/")

    def api_key_set(self) -> frozenset[str]:
        """The accepted API keys; empty when none is configured (the API then refuses all)."""
        return frozenset(k.strip() for k in (self.api_keys or "").split(",") if k.strip())

    def origin(self) -> str:
        """`scheme://host[:port]` of the public URL: the one Origin a form may come from."""
        p = urlsplit(self.public_url)
        return f"{p.scheme}://{p.netloc}".lower()

    def host_names(self) -> list[str]:
        """Host header values accepted (TrustedHostMiddleware): the public URL's, plus any configured."""
        extra = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        return [urlsplit(self.public_url).hostname or "", *extra]

    def signing_key(self, settings: Settings) -> str:
        """The key that signs sign-in links; raises `SecretError` when missing, empty or short."""
        if self.secret_key is not None:
            where, key = "CONSENTRY_SECRET_KEY", self.secret_key.strip()
        else:
            path = Path(settings.home) / SECRET_FILE
            if not path.exists():
                raise SecretError(f"no signing key ({path} does not exist): {HOW_TO_MAKE_A_SECRET}")
            where, key = str(path), path.read_text().strip()
        if len(key) < MIN_SECRET_CHARS:
            state = "empty" if not key else f"only {len(key)} characters"
            raise SecretError(f"the signing key in {where} is {state}: {HOW_TO_MAKE_A_SECRET}")
        return key


def create_secret(settings: Settings) -> tuple[Path, bool]:
    """Write a new random key to `$CONSENTRY_HOME/center_secret` unless a valid one is there.

    Atomic: the key is written to a temporary file (0600) in the same directory and
    linked into place, so a crash leaves either no file or a whole key, never an empty
    one. An empty or short file left by an older version is replaced. Returns (path, created).
    """
    path = Path(settings.home) / SECRET_FILE
    if path.exists():
        try:
            CenterSettings(secret_key=None).signing_key(settings)
            return path, False
        except SecretError:
            path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".center_secret.")
    try:
        os.write(fd, secrets.token_urlsafe(48).encode())
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it meanwhile: keep theirs
        except FileExistsError:
            return path, False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path, True
