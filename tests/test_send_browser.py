"""A send in a real browser, cancelled part-way and then sent to the rest (issue 12, 1 2 5).

The web app runs alone (uvicorn) on a database of its own; this test plays the worker, calling
`send_batch` itself, so the page is seen at fixed points: 10 of 30 sent, cancelled, the rest
sent. Its own module because the `browser` fixture keeps Playwright's loop for a module.
"""

from __future__ import annotations

import email
import re

import pytest
from sqlalchemy import select

from app.accounts import create_admin
from app.config import Settings
from app.db import session_factory, session_scope
from app.delivery.engine import send_batch
from app.delivery.outbox import OutboxTransport
from app.migrate import upgrade
from app.models import Issue
from tests.conftest import ARTIFACTS
from tests.live_app import live_app
from tests.test_admin_browser import shoot
from tests.test_sending import T0, add_readers, make_issue

pytestmark = [pytest.mark.browser, pytest.mark.slow]
EDITOR, PASSWORD = "editor@example.org", "correct horse battery staple"
READERS, BATCH = 30, 10


@pytest.fixture
def site(tmp_path):
    """30 confirmed readers, a three-post draft and an admin, on SQLite; no worker runs."""
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'digest.db'}",
        # The embedded broker (var/broker.db under tmp_path): its tasks wait, no worker runs.
        secret_key=["browser-secret-key-0123456789abcdef"],
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
        postal_address="Weekly Digest, 1 Test Street, 10115 Berlin, Germany",
        batch_size=BATCH,
    )
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        add_readers(session, READERS)
        issue = make_issue(session)
        create_admin(session, email=EDITOR, password=PASSWORD, now=T0)
        issue_id = issue.id
    return settings, issue_id


def run_batches(settings: Settings, issue_id: int, *batches: int) -> None:
    """What a worker would do with these batches' tasks."""
    for batch in batches:
        send_batch(
            session_factory(settings.database_url),
            issue_id=issue_id,
            batch=batch,
            settings=settings,
            transport=OutboxTransport(settings.outbox_dir),
        )


def background(page, selector: str) -> str:
    return page.locator(selector).evaluate("e => getComputedStyle(e).backgroundColor")


def test_cancel_part_way_then_send_to_the_rest(browser, site, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    settings, issue_id = site
    with live_app(settings, tmp_path / "app.log") as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/admin/issues/{issue_id}/preview")
        page.get_by_label("Email").fill(EDITOR)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_label("Addresses").fill(EDITOR)
        page.get_by_role("button", name="Send test").click()
        page.wait_for_selector(f"text=Test copy sent to {EDITOR}")

        # The confirm card: what goes, from whom, to how many, when the last test went.
        page.get_by_role("link", name="Send…").first.click()
        page.wait_for_selector("h1:text('Send to 30 readers?')")
        card = page.locator("table.facts").inner_text()
        assert "Your top 3 sustainability & energy posts" in card
        assert "Weekly Digest <digest@news.example.org>" in card
        assert re.search(rf"Last test\s+\d{{4}}-\d\d-\d\d \d\d:\d\d UTC to {EDITOR}", card)
        yes = background(page, "button:text('Yes, send it now')")
        not_yet = background(page, "a.button.secondary")
        assert yes != not_yet and not_yet == "rgb(229, 231, 235)"  # the link looks secondary
        shoot(page, "send-confirm-card")

        page.get_by_role("button", name="Yes, send it now").click()
        page.wait_for_url(re.compile(r"/progress$"))
        run_batches(settings, issue_id, 0)
        page.wait_for_selector("[data-field=summary]:text('10 of 30 done (33.3 %)')")

        page.get_by_role("button", name="Cancel the send").click()
        page.wait_for_selector("text=The send was cancelled")
        summary = page.locator("[data-field=summary]").inner_text()
        assert summary == "Cancelled after 10 of 30 — 20 not sent"
        assert page.locator(".bar .fill").get_attribute("style").strip() == "width: 33.3%"
        assert page.locator('[data-count="cancelled"]').inner_text() == "20"
        assert page.locator('[data-count="skipped"]').inner_text() == "0"
        shoot(page, "send-cancelled")
        page.reload()
        assert page.locator(".flash").count() == 0  # said once

        page.get_by_role("button", name="Send to the rest (20 readers)").click()
        page.wait_for_selector("text=Sending to the rest")
        run_batches(settings, issue_id, 1, 2)
        # The page sees the status change and reloads itself: no stale "Sending to the rest".
        page.wait_for_selector("[data-field=status]:text('sent')", timeout=30_000)
        summary = page.locator(".progress-status").inner_text()
        assert re.fullmatch(r"sent\s*Sent to 30 readers in \d+ s\s*· View in archive", summary)
        assert page.locator(".flash").count() == 0
        assert page.locator(".bar .fill").get_attribute("style").strip() == "width: 100.0%"
        shoot(page, "send-finished")
        page.go_back()
        assert page.locator(".flash").count() == 0
        page.goto(f"{base}/admin/issues/{issue_id}/progress")
        page.get_by_role("link", name="View in archive").click()
        page.wait_for_url(re.compile(rf"/archive/{issue_id}$"))
        page.close()

    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Issue.status).where(Issue.id == issue_id)) == "sent"
    digests = [
        email.message_from_bytes(path.read_bytes())
        for path in settings.outbox_dir.glob("*.eml")
        if b"Subject: [TEST]" not in path.read_bytes()
    ]
    recipients = sorted(message["To"] for message in digests)
    assert recipients == sorted(f"r{n}@example.org" for n in range(READERS))  # each once
