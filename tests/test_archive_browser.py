"""The public face in a real browser (issue 12): the archive as landing page, an issue page, the
error pages, subscribing from the archive, and the admin's postal-address warning."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.conftest import ARTIFACTS
from tests.processes import embedded_service
from tests.test_admin_browser import demo_login
from tests.test_sending import T0, make_issue

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WIDTHS = (1280, 375)
TITLES = [
    "Germany's grid operators approve a record 4 GW of battery storage",
    "Heat pumps outsold gas boilers in France for the third year running",
    "Why offshore wind auctions failed in the North Sea this autumn",
    "A village in Wales now runs on a community-owned solar farm",
    "The EU's new methane rules, explained in five charts",
    "Green hydrogen: which of the announced projects are actually being built?",
    "Rooftop solar in Pakistan grew faster than anyone forecast",
    "How a steel plant in Sweden cut its emissions by 90 %",
    "Electric buses: what three years in Santiago taught operators",
    "Peatland restoration is cheaper than expected, a study finds",
]


def shoot(page, name: str, part: str = "html") -> None:
    """Screenshot at both widths; at 375 px nothing of `part` may stick out sideways (the admin's
    own pages are another test's: there only the warning is this test's)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        right = page.evaluate(f"document.querySelector('{part}').getBoundingClientRect().right")
        wide = page.evaluate(f"document.querySelector('{part}').scrollWidth")
        assert right <= width + 1 and wide <= width + 1, f"{name} is {wide} px wide at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"public-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _publish(database: str) -> int:
    """Three sent issues in the service's database; the newest one's id."""
    engine = create_engine(f"sqlite:///{database}")
    ids = []
    with Session(engine) as db:
        for back, week in enumerate(("2026-W47", "2026-W46", "2026-W45")):  # W48: the demo draft
            turn = TITLES[back:] + TITLES[:back]
            posts = [
                {
                    "title": title,
                    "url": f"https://news.example.com/{week}/{n}",
                    "source": ("Clean Energy Wire", "Carbon Brief", "Electrek")[n % 3],
                }
                for n, title in enumerate(turn)
            ]
            issue = make_issue(db, posts, week=week)
            issue.subject = f"Top 10 in sustainability & energy, {week}"
            issue.status, issue.sent_at = "sent", T0 - timedelta(days=7 * back)
            if back == 1:
                issue.intro = ""
            db.commit()
            ids.append(issue.id)
    engine.dispose()
    return ids[0]


def test_a_visitor_reads_the_archive_and_subscribes(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with embedded_service(tmp_path / "site", "--demo") as service:
        newest = _publish(str(service.folder / "var" / "digest.db"))
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        page.goto(service.base_url + "/archive")
        assert page.locator("li.issue-card").count() == 3
        first = page.locator("li.issue-card").first
        assert "Latest" in first.inner_text() and "Mon 16 – Sun 22 Nov 2026" in first.inner_text()
        assert first.locator("ul.teaser li").count() == 3
        assert "DIGEST_POSTAL_ADDRESS" not in page.content()
        shoot(page, "archive")

        first.get_by_role("link", name=re.compile("Top 10")).click()
        page.wait_for_selector("text=← All issues")
        assert page.url.endswith(f"/archive/{newest}")
        assert page.locator("ol.cards li.card").count() == 10
        assert page.locator('meta[property="og:type"]').get_attribute("content") == "article"
        shoot(page, "issue")
        page.get_by_role("link", name="← All issues").first.click()
        page.wait_for_selector("text=Past issues")

        for path, name in (("/no-such-page", "not-found"), ("/archive/abc", "archive-abc")):
            response = page.goto(service.base_url + path)
            assert response.status == 404
            assert page.get_by_role("link", name="Back to the start").is_visible()
            shoot(page, name)

        # Subscribe from the archive on a phone: a plain form post, no script on the page.
        page.set_viewport_size({"width": 375, "height": 800})
        page.goto(service.base_url + "/archive")
        assert page.locator("script").count() == 0
        page.get_by_label("Email address").fill("archive.reader@example.org")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_selector("text=Check your inbox")
        page.close()

        # The admin sees what readers do not: the missing postal address.
        email, password = demo_login((service.folder / "serve.log").read_text())
        admin = browser.new_page(viewport={"width": 1280, "height": 900})
        admin.goto(service.base_url + "/admin")
        admin.get_by_label("Email").fill(email)
        admin.get_by_label("Password").fill(password)
        admin.get_by_role("button", name="Log in").click()
        warning = admin.locator(".setting-warning")
        warning.wait_for()
        assert "DIGEST_POSTAL_ADDRESS is not set" in warning.inner_text()
        shoot(admin, "admin-postal-warning", ".setting-warning")
        admin.close()
