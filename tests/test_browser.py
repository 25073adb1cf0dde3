"""The subscribe form in a real browser (Debian chromium via Playwright) against `digest serve`."""

from __future__ import annotations

import email
import email.policy

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
        assert "/confirm/" in message.get_body(("plain",)).get_content()
