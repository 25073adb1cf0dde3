"""The review page's sections in Chromium at 1280 and 375 px, on the demo: each post's section
tags, who gets what, and every section's list opened — nothing sticks out on a phone."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import ARTIFACTS
from tests.processes import embedded_service
from tests.test_admin_browser import demo_login, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def choose_sections(database: str) -> None:
    """Give some demo readers sections, so the review has several variants to show."""
    with sqlite3.connect(database) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM subscribers ORDER BY id LIMIT 30")]
        for n, reader in enumerate(ids):
            key = ("wind", "policy", "solar-storage,mobility", "")[n % 4]
            db.execute("UPDATE subscribers SET sections = ? WHERE id = ?", (key, reader))


def test_the_sections_of_the_review_at_both_widths(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with embedded_service(tmp_path / "site", "--demo") as service:
        choose_sections(str(service.folder / "var" / "digest.db"))
        login, password = demo_login((service.folder / "serve.log").read_text())
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(service.base_url + "/admin/login")
        page.get_by_label("Email").fill(login)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Review the draft").click()
        page.wait_for_selector("h2#sections")

        assert page.locator("li.item .section-tag").count() > 0
        rows = page.locator("table.segments tbody tr")
        assert rows.count() >= 2  # everything, and the sections chosen above
        assert "everything" in rows.first.inner_text()
        lists = page.locator("details.section-list")
        assert lists.count() == 5  # the default sections
        assert not lists.first.evaluate("d => d.open")  # folded until asked
        first_item = lists.first.locator("ol.section-items li").first
        assert not first_item.is_visible()
        for index in range(lists.count()):
            lists.nth(index).locator("summary").click()
        assert first_item.is_visible()
        assert page.locator("ol.section-items li").count() == 50  # ten for each section
        page.locator("h2#segments").scroll_into_view_if_needed()
        shoot(page, "review-sections")
        for width in (1280, 375):  # the part itself, at a size one can read
            page.set_viewport_size({"width": width, "height": 1100})
            page.wait_for_timeout(100)
            page.evaluate("document.getElementById('segments').scrollIntoView()")
            page.screenshot(path=str(ARTIFACTS / f"admin-review-sections-part-{width}.png"))
            page.evaluate("document.querySelector('li.item').scrollIntoView()")
            page.screenshot(path=str(ARTIFACTS / f"admin-review-tags-{width}.png"))
        # At 375 px the segments table is a stack of cards inside the screen.
        right = page.evaluate(
            "Math.max(...[...document.querySelectorAll('table.segments td, ol.section-items li')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert right <= 376, right
        page.close()
