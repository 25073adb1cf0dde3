"""Erasure in a real browser: a reader subscribes, an admin exports their data and erases them.

Its own module because the `browser` fixture keeps Playwright's event loop for a whole module.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.conftest import ARTIFACTS
from tests.processes import embedded_service, wait_until
from tests.test_admin_browser import demo_login

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ADDRESS, NAME = "erin.erase@example.org", "Erin Erase"


def dump(path) -> str:
    """Every row of an SQLite database as SQL text (what a backup of it would hold)."""
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump()).lower()


def test_admin_exports_then_erases_a_reader_who_subscribed(browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with embedded_service(tmp_path / "site", "--demo") as service:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(service.base_url + "/")
        page.get_by_label("Email address").fill(ADDRESS)
        page.get_by_label("Name").fill(NAME)
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_selector("text=Check your inbox")
        mails = wait_until(
            lambda: [p for p in service.messages() if "erin.erase" in p.name], timeout=60
        )

        email, password = demo_login((service.folder / "serve.log").read_text())
        page.goto(service.base_url + "/admin/readers?q=erin")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name=ADDRESS).click()
        page.wait_for_selector("h2:text('Erase this reader')")
        page.screenshot(path=str(ARTIFACTS / "admin-reader.png"), full_page=True)

        with page.expect_download() as download:
            page.get_by_role("link", name="Export data (JSON)").click()
        exported = json.loads(download.value.path().read_text(encoding="utf-8"))
        assert (exported["address"], exported["name"], exported["status"]) == (
            ADDRESS,
            NAME,
            "pending",
        )
        assert [event["kind"] for event in exported["consent_events"]] == ["subscribe-request"]
        assert exported["consent_events"][0]["ip"] == "127.0.0.1"

        confirm = page.get_by_label("Type the address to confirm")
        confirm.fill("someone.else@example.org")
        page.get_by_role("button", name="Erase this reader").click()
        assert "address exactly" in page.locator("p.error[role=alert]").inner_text()
        assert all(path.exists() for path in mails)  # the wrong address erased nothing

        page.get_by_label("Type the address to confirm").fill(ADDRESS)
        page.get_by_role("button", name="Erase this reader").click()
        page.wait_for_selector("text=Erased: the address and name are gone")
        assert re.search(r"/admin/readers/\d+$", page.url)  # the message is not in the address
        assert ADDRESS not in page.content() and NAME not in page.content()
        assert "erased" in page.locator("table.consent").inner_text()
        page.screenshot(path=str(ARTIFACTS / "admin-reader-erased.png"), full_page=True)
        page.close()

        assert not any(path.exists() for path in mails)
        var = service.folder / "var"
        database = dump(var / "digest.db")
        assert "amelia.hart@example.com" in database  # the dump holds readers' addresses
        for needle in (ADDRESS, "erin.erase", NAME.lower()):
            assert needle not in database, needle
            assert needle not in dump(var / "broker.db"), needle
