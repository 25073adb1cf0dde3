"""Shared fixtures: real SQLite and PostgreSQL (schema from the migrations), each test rolled back.

PostgreSQL and Redis are real servers. In CI (CI=true) an unreachable server fails the run; on a
developer's machine without them, only the tests that need them are skipped, with a loud warning.
"""

from __future__ import annotations

import os
import socket
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.config import Settings
from app.db import make_engine, set_publisher
from app.migrate import upgrade

pytest_plugins = ["tests.smtp_server", "tests.checkout_var"]

# A Celery app made from the environment's settings (the default publisher, `app.jobs`) creates
# var/broker.db under the current directory in embedded mode: point it at a scratch folder so
# the suite never writes into a checkout's var/ (only `digest serve` should).
os.environ.setdefault("DIGEST_VAR_DIR", tempfile.mkdtemp(prefix="digest-tests-var-"))

PG_ADMIN_URL = os.environ.get("DIGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DIGEST_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_TOKEN = "test-admin-token-0123456789"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _server_available(name: str, host: str, port: int) -> bool:
    if _reachable(host, port):
        return True
    message = f"{name} is not reachable on {host}:{port}: its tests are SKIPPED"
    if IN_CI:
        pytest.exit(f"{name} is unreachable in CI ({host}:{port}); refusing to skip", returncode=3)
    warnings.warn(message, stacklevel=2)
    print(f"\n!!! {message} !!!\n")  # noqa: T201 - say it loudly where people look
    return False


POSTGRES_UP = _server_available("PostgreSQL", "127.0.0.1", 5432)
REDIS_UP = _server_available("Redis", "127.0.0.1", 6379)
needs_postgres = pytest.mark.skipif(not POSTGRES_UP, reason="PostgreSQL not reachable")
needs_redis = pytest.mark.skipif(not REDIS_UP, reason="Redis not reachable")


def _worker_suffix() -> str:
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def create_postgres_database(label: str) -> str:
    """A fresh, empty PostgreSQL database for this test process; returns its SQLAlchemy URL."""
    name = f"digest_{label}_{_worker_suffix()}".lower()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + (
        f"/{name}"
    )


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=[pytest.mark.postgres, needs_postgres]),
]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A migrated database per backend for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'digest.db'}"
        upgrade(url)
        yield url
        return
    url = create_postgres_database("test")
    upgrade(url)
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Any]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def sessions(connection: Any) -> sessionmaker[Session]:
    """Sessions whose commits are savepoints inside the test's transaction."""
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    yield session
    session.close()


@pytest.fixture
def published() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Tasks published after commit, collected instead of sent to a broker."""
    collected: list[tuple[str, tuple[Any, ...]]] = []
    set_publisher(lambda name, args: collected.append((name, args)))
    yield collected
    set_publisher(None)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=["test-secret-key-0123456789abcdef"],
        admin_token=ADMIN_TOKEN,
        base_url="http://testserver",
        subscribe_rate="1000/minute",
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
        postal_address="Weekly Digest, 1 Test Street, 10115 Berlin, Germany",
    )


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session], published: list) -> Any:
    from app.web import create_app

    application = create_app(settings)
    application.state.digest.sessions = sessions
    return application


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def frozen_clock() -> Iterator[Any]:
    """Pin the service clock; the yielded object's `.now` can be moved."""
    from datetime import UTC, datetime

    class Pinned:
        now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    clock.set_clock(lambda: Pinned.now)
    yield Pinned
    clock.set_clock(None)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    lives, which would break other tests' `asyncio.run`."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("chromium is missing in CI: `make test` installs it with apt")
        pytest.skip("Debian chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()
