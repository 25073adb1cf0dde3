"""Sections on the subscribe form and the preference centre, in a real browser (Debian chromium).

Its own module because the `browser` fixture keeps Playwright's event loop for a whole module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import session_scope
from app.migrate import upgrade
from app.models import ConsentEvent, Subscriber
from app.readers.subscriptions import manage_token
from app.tokens import Signer
from tests.conftest import ARTIFACTS
from tests.live_app import live_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WIDTHS = (1280, 375)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def shoot(page, name: str) -> None:
    """Screenshot the page at both widths; at 375 px nothing may stick out sideways."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width + 1, f"{name} is {overflow} px wide at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def site(tmp_path):
    """A confirmed reader and one who left, on SQLite; the app runs in its own uvicorn."""
    ARTIFACTS.mkdir(exist_ok=True)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'digest.db'}",
        secret_key=["browser-secret-key-0123456789abcdef"],
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
        postal_address="Weekly Digest, 1 Test Street, 10115 Berlin, Germany",
    )
    upgrade(settings.database_url)
    ids = {}
    with session_scope(settings.database_url) as session:
        for email, status in (
            ("mia@example.org", "confirmed"),
            ("leo@example.org", "unsubscribed"),
        ):
            reader = Subscriber(
                email=email, status=status, source="form", created_at=T0, updated_at=T0
            )
            session.add(reader)
            session.flush()
            ids[status] = reader.id
    with live_app(settings, tmp_path / "app.log") as base:
        yield settings, ids, base


def _reader(settings: Settings, reader_id: int) -> tuple:
    with session_scope(settings.database_url) as session:
        reader = session.get(Subscriber, reader_id)
        kinds = session.scalars(
            select(ConsentEvent.kind).where(ConsentEvent.subscriber_id == reader_id)
        ).all()
        return reader.status, reader.sections, reader.cadence, reader.paused_until, kinds


def test_reader_sets_sections_monthly_pauses_and_resumes(browser, site):
    settings, ids, base = site
    signer = Signer(settings.signing_keys())
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(f"{base}/manage/{manage_token(signer, ids['confirmed'])}")
    assert page.get_by_text("Tick none to get everything").is_visible()
    assert _reader(settings, ids["confirmed"])[1:] == ("", "weekly", None, [])  # GET: nothing
    shoot(page, "manage-confirmed")

    page.get_by_label("Wind", exact=True).check()
    page.get_by_label("Policy", exact=True).check()
    page.get_by_label("Monthly best of").check()
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_selector("text=Saved: you get Wind and Policy, monthly best-of.")
    page.reload()  # a redirect after the POST: reloading posts nothing again
    assert page.get_by_label("Wind", exact=True).is_checked()
    assert page.get_by_label("Policy", exact=True).is_checked()
    assert not page.get_by_label("Mobility", exact=True).is_checked()
    assert page.get_by_label("Monthly best of").is_checked()
    shoot(page, "manage-saved")

    page.get_by_label("Pause for").select_option("2")
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_selector("h2:text('Paused until')")
    assert page.get_by_role("button", name="Resume now").is_visible()
    status, sections, cadence, paused_until, kinds = _reader(settings, ids["confirmed"])
    assert (status, sections, cadence) == ("confirmed", "wind,policy", "monthly")
    assert timedelta(days=13) < paused_until - datetime.now(UTC) <= timedelta(weeks=2)
    shoot(page, "manage-paused")

    page.get_by_role("button", name="Resume now").click()
    page.wait_for_selector("text=Your digest is on")
    assert _reader(settings, ids["confirmed"])[3] is None

    with page.expect_download() as download:
        page.get_by_role("button", name="Export my data").click()
    exported = download.value.path().read_text(encoding="utf-8")
    assert '"sections": [\n    "wind",\n    "policy"\n  ]' in exported

    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_selector("text=You're unsubscribed: mia@example.org will get no more digests.")
    shoot(page, "manage-unsubscribed")
    assert _reader(settings, ids["confirmed"])[4] == [
        "preferences",
        "pause",
        "resume",
        "unsubscribe",
    ]
    page.close()


def test_a_reader_who_left_and_a_broken_link(browser, site):
    settings, ids, base = site
    signer = Signer(settings.signing_keys())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/manage/{manage_token(signer, ids['unsubscribed'])}")
    assert page.get_by_text("You are unsubscribed").is_visible()
    assert page.get_by_role("link", name="Subscribe again").is_visible()
    assert page.get_by_role("checkbox").count() == 0
    shoot(page, "manage-left")

    response = page.goto(f"{base}/manage/{manage_token(signer, ids['confirmed'])}x")
    assert response.status == 400
    assert page.get_by_text("Nothing was changed").is_visible()
    shoot(page, "manage-bad-token")
    page.close()


def test_subscribe_form_with_sections_keeps_the_ticks_when_refused(browser, site):
    settings, _ids, base = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    assert page.get_by_text("Tick none to get everything").is_visible()
    assert page.get_by_role("checkbox").count() == len(settings.sections.all)
    shoot(page, "subscribe-sections")
    page.goto(base + "/archive")  # the archive's landing page holds the same form
    assert page.get_by_role("checkbox").count() == len(settings.sections.all)
    shoot(page, "archive-sections")
    page.goto(base + "/")

    page.get_by_label("Email address").fill("not an address")
    page.get_by_label("Wind", exact=True).check()
    page.get_by_label("Mobility", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Wind", exact=True).is_checked()
    assert page.get_by_label("Mobility", exact=True).is_checked()
    assert page.get_by_label("Email address").input_value() == "not an address"

    # A tampered form (a section this site does not have) is refused with the valid list.
    page.get_by_label("Email address").fill("nia@example.org")
    page.get_by_label("Policy", exact=True).evaluate("box => { box.value = 'astrology' }")
    page.get_by_label("Policy", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    alert = page.get_by_role("alert").inner_text()
    assert "unknown section: astrology" in alert and "wind (Wind)" in alert
    assert page.get_by_label("Email address").input_value() == "nia@example.org"
    assert page.get_by_label("Wind", exact=True).is_checked()
    shoot(page, "subscribe-sections-422")

    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_selector("text=Check your inbox")
    with session_scope(settings.database_url) as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == "nia@example.org"))
        assert (reader.status, reader.sections) == ("pending", "wind,mobility")
    page.close()
