"""The privacy center's own settings (env `CONSENTRY_*`), beside the shared `Settings`.

Why separate: the center needs secrets and credentials (signing key, admin token,
API keys, the trusted identity header) that no other module should see. The signing
key must be the same for `consentry member-link` and `consentry serve`, so when it
is not given by environment it is created once in the home directory (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from consentry.settings import Settings


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
    public_url: str = "http://127.0.0.1:8000"
    link_max_age_s: int = 15 * 60
    session_max_age_s: int = 8 * 3600
    https_only_cookies: bool = False

    def api_key_set(self) -> frozenset[str]:
        """The accepted API keys; empty when none is configured (the API then refuses all)."""
        return frozenset(k.strip() for k in (self.api_keys or "").split(",") if k.strip())

    def signing_key(self, settings: Settings) -> str:
        """The key that signs sessions and sign-in links, created once per home when unset."""
        if self.secret_key:
            return self.secret_key
        path = Path(settings.home) / "center_secret"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip()
        try:
            os.write(fd, key.encode())
        finally:
            os.close(fd)
        return key
