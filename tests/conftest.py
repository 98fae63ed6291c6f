"""Shared fixtures. Torch and friends get small thread counts: 2 shared cores."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No test writes into the checkout's ./.consentry (keys, ledgers) by accident.
if "CONSENTRY_HOME" not in os.environ:
    os.environ["CONSENTRY_HOME"] = tempfile.mkdtemp(prefix="consentry-tests-")
    atexit.register(shutil.rmtree, os.environ["CONSENTRY_HOME"], ignore_errors=True)
# Builds outside tests/snapshots must not create a key in the working directory's .consentry/keys.
os.environ.setdefault("CONSENTRY_REDACTION_KEY", "test-key-0123456789")

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_ADMIN_URL = os.environ.get("CONSENTRY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared/ when present; tests that need it skip otherwise."""
    if not SHARED.exists():
        pytest.skip("../shared/ is not present")
    return SHARED


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated CONSENTRY_HOME for one test."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("CONSENTRY_HOME", str(h))
    return h


@pytest.fixture
def pg_url() -> str:
    """A fresh, empty schema on the real PostgreSQL server (never a mock).

    Returns a SQLAlchemy URL whose search_path is a new schema, dropped afterwards.
    """
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(PG_ADMIN_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required for this test: {exc}")
    url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    yield url
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()
