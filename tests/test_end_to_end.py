"""A reader's whole journey through real parts: PostgreSQL, Redis, a Celery worker, SMTP."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import make_engine, set_publisher
from app.migrate import upgrade
from app.models import ConsentEvent, Subscriber
from tests.conftest import (
    REDIS_URL,
    create_postgres_database,
    drop_postgres_database,
    needs_postgres,
    needs_redis,
)
from tests.processes import celery_worker, publisher_for, purge_queue, unique_queue

pytestmark = [needs_postgres, needs_redis, pytest.mark.slow]


@pytest.fixture
def live_settings(tmp_path, smtp_server):
    """Settings for a committed PostgreSQL database, a Redis broker and the test SMTP server."""
    url = create_postgres_database("e2e")
    upgrade(url)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=url,
        broker_url=REDIS_URL,
        queue=unique_queue(),
        smtp_url=smtp_server.url(),
        secret_key=["e2e-secret-key-0123456789abcdef"],
        base_url="https://digest.example.org",
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
        postal_address="1 Test Street, Berlin",
    )
    yield settings
    purge_queue(settings)
    drop_postgres_database(url)


def _link(message, pattern: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(pattern, text).group(0)


def test_subscribe_confirm_welcome_one_click_unsubscribe(live_settings, smtp_server, tmp_path):
    from app.web import create_app

    _celery, publish = publisher_for(live_settings)
    set_publisher(publish)
    try:
        with (
            celery_worker(live_settings, log=tmp_path / "worker.log"),
            TestClient(create_app(live_settings), base_url="https://digest.example.org") as client,
        ):
            answer = client.post("/subscribe", json={"email": "Reader@Example.org", "name": "R"})
            assert answer.status_code == 202

            confirmation = smtp_server.wait_for(1, timeout=60)[0]
            assert confirmation.rcpt_tos == ["reader@example.org"]
            assert "List-Unsubscribe" not in confirmation.message  # no marketing, nothing to leave
            confirm_url = _link(confirmation.message, r"https://digest\.example\.org/confirm/\S+")
            asked = client.get(urlsplit(confirm_url).path)  # what a link scanner does, too
            assert asked.status_code == 200 and "Confirm my subscription" in asked.text
            confirmed = client.post(
                urlsplit(confirm_url).path, headers={"origin": "https://digest.example.org"}
            )
            assert confirmed.status_code == 200 and "You&#39;re subscribed" in confirmed.text

            welcome = smtp_server.wait_for(2, timeout=60)[1]
            assert welcome.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            header_url = re.search(r"<(https://[^>]+)>", welcome.message["List-Unsubscribe"])[1]
            assert header_url in welcome.message.get_body(("plain",)).get_content()

            left = client.post(
                urlsplit(header_url).path,
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
                follow_redirects=False,
            )
            assert left.status_code == 200
    finally:
        set_publisher(None)

    engine = make_engine(live_settings.database_url)
    with engine.connect() as conn:
        status = conn.scalar(select(Subscriber.status))
        kinds = list(conn.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)))
    engine.dispose()
    assert status == "unsubscribed"
    assert kinds == ["subscribe-request", "confirm", "unsubscribe"]


def test_smtp_down_when_confirmation_runs_keeps_the_subscription_and_retries(
    live_settings, tmp_path, smtp_server
):
    """The SMTP server refuses the first attempts: the task retries; the reader stays pending."""
    from app.web import create_app

    live_settings.retry_delays = [1, 1, 1]
    smtp_server.fail_next(1, "421 4.3.2 Service not available, closing")
    _celery, publish = publisher_for(live_settings)
    set_publisher(publish)
    try:
        with TestClient(create_app(live_settings)) as client:
            assert client.post("/subscribe", json={"email": "slow@example.org"}).status_code == 202
        engine = make_engine(live_settings.database_url)
        with engine.connect() as conn:
            assert conn.scalar(select(Subscriber.status)) == "pending"
        engine.dispose()
        with celery_worker(live_settings, log=tmp_path / "worker.log"):
            message = smtp_server.wait_for(1, timeout=90)[0]
        assert message.rcpt_tos == ["slow@example.org"]
        assert "Retry in" in (tmp_path / "worker.log").read_text()
    finally:
        set_publisher(None)
