"""The editor's screens in Chromium at 1280 and 375 px: weeks as dates, drafting an unfinished
week, deleting a draft, tables as cards on a phone, readable charts, previews at full height,
feed states in sentences, and a reader unsubscribed by an admin."""

from __future__ import annotations

import email
import re
import sqlite3
import time
from email import policy

import pytest

from tests.conftest import ARTIFACTS
from tests.processes import embedded_service
from tests.test_admin_browser import demo_login, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# At 375 px every cell of a card table lies inside the screen, and the header row is hidden.
CARDS_FIT = """() => {
  const cells = [...document.querySelectorAll('table.cards td')];
  const head = document.querySelector('table.cards thead');
  return {cells: cells.length, outside: cells.filter(c => c.getBoundingClientRect().right > 376
      || c.getBoundingClientRect().left < -1).length,
    headHeight: head ? head.getBoundingClientRect().height : 0,
    display: cells.length ? getComputedStyle(cells[0]).display : ''};
}"""
# The smallest chart text as drawn on screen: font size in drawing units × the SVG's scale.
SMALLEST_CHART_TEXT = """() => Math.min(...[...document.querySelectorAll('svg.chart text')]
  .map(t => parseFloat(t.getAttribute('font-size')) * t.ownerSVGElement.getScreenCTM().a))"""
FRAMES = """() => [...document.querySelectorAll('iframe.mail')].map(f => ({
  frame: f.getBoundingClientRect().height,
  mail: f.contentDocument.documentElement.scrollHeight}))"""


def wait_until(check, timeout: float = 120, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(step)
    raise AssertionError("gave up waiting")


def cards_fit(page) -> None:
    page.set_viewport_size({"width": 375, "height": 900})
    page.wait_for_timeout(100)
    fit = page.evaluate(CARDS_FIT)
    assert fit["cells"] and fit["outside"] == 0 and fit["headHeight"] <= 1, fit
    assert fit["display"] == "block", fit
    page.set_viewport_size({"width": 1280, "height": 900})


def seed_feeds(database: str) -> None:
    """Feeds in the states a poller leaves (the service has no internet to reach real ones)."""
    rows = [
        ("https://news.example.org/energy.rss", "Energy news", "ok", None, 0),
        ("https://grid.example.org/feed", "Grid weekly", "not-modified", None, 0),
        ("https://old.example.org/rss", "Old blog", "http-404", "HTTP 404 Not Found from …", 2),
    ]
    with sqlite3.connect(database) as db:
        for url, title, status, error, failures in rows:
            db.execute(
                "INSERT INTO feeds (url, title, topics, last_fetched_at, last_status, last_error,"
                " error_count, created_at) VALUES (?, ?, '[\"energy\"]', datetime('now'), ?, ?,"
                " ?, datetime('now'))",
                (url, title, status, error, failures),
            )


def test_the_editors_screens_at_both_widths(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with embedded_service(tmp_path / "site", "--demo") as service:
        login, password = demo_login((service.folder / "serve.log").read_text())
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(service.base_url + "/admin/login")
        page.get_by_label("Email").fill(login)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("text=Review the draft")

        # The dashboard: weeks as days; the form offers the newest complete undrafted week.
        assert re.match(r"Draft · Mon \d+", page.locator(".card.draft .eyebrow").text_content())
        chosen = page.locator("select#week option:checked").inner_text()
        assert re.fullmatch(r"Mon \d+( \w{3})? – Sun \d+ \w{3} · not drafted", chosen), chosen
        assert "W4" not in page.locator("main").inner_text()
        shoot(page, "dashboard-weeks")
        draft_url = page.get_by_role("link", name="Review the draft").get_attribute("href")

        # The unfinished current week asks first.
        current = page.locator("select#week option").first
        assert "this week, not over yet" in current.inner_text()
        page.select_option("select#week", current.get_attribute("value"))
        page.get_by_role("button", name="Rank and draft").click()
        page.wait_for_selector("text=is not over yet")
        shoot(page, "draft-unfinished")
        page.get_by_role("button", name="Draft it anyway").click()
        page.wait_for_url(re.compile(r"/admin/issues/\d+$"))
        new_draft = page.url.rsplit("/", 1)[-1]

        # …and that draft can be deleted again, after a question.
        page.goto(f"{service.base_url}/admin")
        page.locator(f'a[href="/admin/issues/{new_draft}/delete"]').click()
        page.wait_for_selector("text=Delete the draft for")
        shoot(page, "delete-draft")
        page.get_by_role("button", name="Delete the draft").click()
        page.wait_for_selector("text=The draft was deleted")
        assert page.locator(f'a[href="/admin/issues/{new_draft}/delete"]').count() == 0

        # The preview frames are as tall as the mail in them, at both widths.
        page.goto(f"{service.base_url}{draft_url}/preview")
        page.wait_for_selector("iframe.mail.phone")
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(400)
            frames = page.evaluate(FRAMES)
            assert all(f["frame"] >= f["mail"] and f["mail"] > 900 for f in frames), frames
        shoot(page, "preview-frames")

        # Send the demo issue so the history has numbers, then click two tracked links.
        page.goto(f"{service.base_url}{draft_url}/send")
        page.locator(f'form[action="{draft_url}/send"] button[type=submit]').click()
        page.wait_for_url(re.compile(r"/progress$"))
        page.wait_for_selector('[data-field="status"]:text("sent")', timeout=120_000)
        digest = next(
            message
            for message in (
                email.message_from_bytes(path.read_bytes(), policy=policy.default)
                for path in service.messages()
            )
            if "[TEST]" not in message["Subject"]
        )
        text = digest.get_body(("plain",)).get_content()
        tokens = re.findall(r"/r/([\w.-]+)", text)[:2]  # the mail's links name port 8000
        assert tokens
        for token in tokens:
            # A person's browser: headless Chromium's own agent counts as a link scanner.
            human = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"}
            page.request.get(f"{service.base_url}/r/{token}", max_redirects=0, headers=human)
        page.goto(service.base_url + "/admin/history")
        rate = wait_until(
            lambda: (
                (page.reload() or True)
                and page.locator("td.rate").first.inner_text() not in ("0.0 %", "—")
                and page.locator("td.rate").first.inner_text()
            )
        )
        assert re.fullmatch(r"\d+\.\d %", rate)
        page.set_viewport_size({"width": 375, "height": 900})
        page.wait_for_timeout(100)
        assert page.evaluate(SMALLEST_CHART_TEXT) >= 11
        page.set_viewport_size({"width": 1280, "height": 900})
        cards_fit(page)
        shoot(page, "history-rates")

        # Readers: "50 of 3,0xx", rows as cards on a phone; one reader, unsubscribed by us.
        page.goto(service.base_url + "/admin/readers")
        shown = page.locator("table.readers tbody tr").count()
        assert f"({shown} of " in page.locator("h1").inner_text() and 0 < shown <= 50
        cards_fit(page)
        shoot(page, "readers-cards")
        page.locator("table.readers td.address a").first.click()
        page.wait_for_selector("h2:text('Deliveries')")
        assert re.match(r"Mon \d+", page.locator("table.deliveries td a").first.inner_text())
        shoot(page, "reader")
        page.get_by_role("button", name="Unsubscribe this reader").click()
        page.wait_for_selector("text=Unsubscribed: no more digests go to this reader")
        last_event = page.locator("table.consent tbody tr").last.inner_text()
        assert "unsubscribe" in last_event and "admin" in last_event
        cards_fit(page)
        shoot(page, "reader-unsubscribed")

        # Feeds: states in sentences; the one added here fails on its first real poll.
        seed_feeds(str(service.folder / "var" / "digest.db"))
        page.goto(service.base_url + "/admin/feeds")
        page.get_by_label("RSS or Atom URL").fill("https://feeds.digest-test.invalid/rss")
        url_box = page.locator("#url").evaluate("e => getComputedStyle(e).paddingLeft")
        assert url_box == page.locator("#title").evaluate("e => getComputedStyle(e).paddingLeft")
        page.get_by_role("button", name="Add feed").click()
        page.wait_for_selector("text=Feed added")
        wait_until(
            lambda: (
                (page.reload() or True)
                and page.locator("text=The site did not answer or refused the connection").count()
            )
        )
        body = page.locator("main").inner_text()
        assert "Up to date · nothing new since the last check" in body
        assert "The site has no page at this address (HTTP 404)" in body
        assert "network-error" not in body and "not-modified" not in body
        cards_fit(page)
        shoot(page, "feeds-states")
        page.close()
