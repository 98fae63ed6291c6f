"""Fixtures for the privacy center tests: an isolated home with a tiny export, the app, a client."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consentry.center.app import create_app
from consentry.center.config import CenterSettings
from consentry.settings import Settings

from .helpers import ADMIN_TOKEN, API_KEY, SECRET, write_export


@pytest.fixture
def center_env(home: Path) -> tuple[Settings, CenterSettings]:
    write_export(home / "network")
    settings = Settings(home=home)
    cs = CenterSettings(secret_key=SECRET, admin_token=ADMIN_TOKEN, api_keys=API_KEY, pack="linkedin-2024",
                        public_url="http://testserver")
    return settings, cs


@pytest.fixture
def app(center_env):
    settings, cs = center_env
    return create_app(settings, cs)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app) as c:
        yield c


