"""Subscribe form and confirm page in a real browser (Debian chromium via Playwright)."""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3

import pytest

from tests.conftest import ARTIFACTS
from tests.processes import embedded_service, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_reader_fills_and_submits_the_form(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with embedded_service(tmp_path / "site") as service:
        for width in (1280, 375):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(service.base_url + "/")
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
            page.screenshot(path=str(ARTIFACTS / f"subscribe-{width}.png"), full_page=True)
            page.close()

        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(service.base_url + "/")
        page.get_by_label("Email address").fill("not an address")
        page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("alert").is_visible()  # shown again with the reason
        page.get_by_label("Email address").fill("browser.reader@example.org")
        page.get_by_label("Name").fill("Bea Reader")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_selector("text=Check your inbox")
        page.screenshot(path=str(ARTIFACTS / "subscribe-done.png"), full_page=True)
        page.close()

        path = wait_until(service.messages, timeout=60)[0]
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["To"] == "browser.reader@example.org"
        text = message.get_body(("plain",)).get_content()
        link = re.search(rf"{re.escape(service.base_url)}/confirm/\S+", text).group(0)

        # The link from the mail asks first (a scanner's GET confirms nothing); the button does.
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(link)
        button = page.get_by_role("button", name="Confirm my subscription")
        assert button.is_visible()
        assert _status(service) == "pending"
        page.screenshot(path=str(ARTIFACTS / "confirm-ask.png"), full_page=True)
        button.click()
        page.wait_for_selector("text=You're subscribed")
        assert page.url == link  # answered in place, no redirect
        page.close()
        assert _status(service) == "confirmed"


def _status(service) -> str:
    with sqlite3.connect(service.folder / "var" / "digest.db") as db:
        return db.execute("select status from subscribers").fetchone()[0]
