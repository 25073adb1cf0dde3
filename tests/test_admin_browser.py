"""A newcomer in a real browser: `digest serve --demo`, log in, review, send, watch it go."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ARTIFACTS
from tests.processes import embedded_service

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WIDTHS = (1280, 375)


def demo_login(log: str) -> tuple[str, str]:
    match = re.search(r"log in as (\S+) / (\S+)", log)
    assert match, f"serve --demo printed no admin login:\n{log}"
    return match.group(1), match.group(2)


def shoot(page, name: str) -> None:
    """Screenshot the page at both widths; at 375 px nothing may stick out sideways."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width + 1, f"{name} is {overflow} px wide at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"admin-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_review_preview_send_and_read_the_mail(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with embedded_service(tmp_path / "site", "--demo") as service:
        email, password = demo_login((service.folder / "serve.log").read_text())
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(service.base_url + "/admin")
        assert "/admin/login" in page.url
        shoot(page, "login")

        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("not the password")
        response_status = []
        page.on("response", lambda r: response_status.append(r.status) if "/login" in r.url else 0)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("text=do not match an admin account")
        assert 401 in response_status

        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("text=Review the draft")
        shoot(page, "dashboard")

        page.get_by_role("link", name="Review the draft").click()
        page.wait_for_selector("text=Posts that didn't make it, and why")
        issue_url = page.url.split("?")[0]
        shoot(page, "review")
        # Pin the best post the ranking left below the cut: it moves into the issue.
        below = page.locator("details.excluded", has_text="Below the cut")
        below.locator("summary").click()
        pin = below.get_by_role("button", name=re.compile("^Pin")).first
        title = pin.get_attribute("aria-label").removeprefix("Pin “").removesuffix("”")
        pin.click()
        page.wait_for_selector("text=Pinned: the post is in the issue")
        assert page.locator("li.item.pinned h3").first.inner_text().startswith(title)

        forged = page.request.post(issue_url + "/items", form={"action": "drop:1"})
        assert forged.status == 403  # the browser's own cookie, but no CSRF token

        page.get_by_role("link", name="Preview and test").click()
        page.wait_for_selector("iframe.mail.phone")
        shoot(page, "preview")
        page.get_by_label("Addresses").fill("editor@example.org")
        page.get_by_role("button", name="Send test").click()
        page.wait_for_selector("text=Test copy sent to editor@example.org")

        page.get_by_role("link", name="Send…").first.click()
        heading = page.locator("h1").inner_text()
        readers = int(re.search(r"Send to ([\d,]+) reader", heading).group(1).replace(",", ""))
        assert readers > 0
        shoot(page, "send-confirm")
        page.get_by_role("button", name="Yes, send it now").click()
        page.wait_for_url(re.compile(r"/progress$"))
        page.wait_for_selector('[data-field="status"]:text("sent")', timeout=90_000)
        counts = {
            state: int(page.locator(f'[data-count="{state}"]').inner_text().replace(",", ""))
            for state in ("sent", "pending", "failed", "bounced")
        }
        assert counts == {"sent": readers, "pending": 0, "failed": 0, "bounced": 0}
        assert page.locator(".bar .fill").get_attribute("style").strip() == "width: 100.0%"
        shoot(page, "progress")

        page.get_by_role("link", name="Open the outbox").click()
        digest_row = page.locator("table.outbox tbody tr").filter(has_not_text="[TEST]").first
        digest_row.get_by_role("link").click()
        page.wait_for_selector("iframe.mail")
        assert page.locator("th", has_text="List-Unsubscribe-Post").count() == 1
        frame = page.frame_locator("iframe.mail")
        assert frame.locator("text=" + title[:30]).count() >= 1  # the pinned post went out
        shoot(page, "outbox-message")

        for name, path in (
            ("history", "/admin/history"),
            ("readers", "/admin/readers"),
            ("feeds", "/admin/feeds"),
            ("outbox", "/admin/outbox"),
        ):
            page.goto(service.base_url + path)
            shoot(page, name)

        page.get_by_role("button", name=re.compile("^Log out(?! everywhere)")).click()
        page.wait_for_url(re.compile(r"/admin/login$"))
        page.goto(service.base_url + "/admin")
        assert "/admin/login" in page.url
        page.close()
