"""DIGEST_POSTAL_ADDRESS unset (issue 12): readers never see the placeholder, the admin is warned,
and a digest that would reach real inboxes is refused; the embedded demo still sends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.config import PLACEHOLDER_POSTAL_ADDRESS, Settings
from app.delivery.engine import SendRefused, start_send
from app.issues.mail import preview
from app.models import Issue, IssueStatus
from app.readers.notifications import send_welcome
from app.tokens import Signer
from emails.render import render_welcome
from tests.test_admin import admin_client, editor, log_in  # noqa: F401 - fixtures
from tests.test_links import KeepingTransport
from tests.test_sending import T0, add_readers, make_issue

ADDRESS = "Weekly Digest, 1 Test Street, 10115 Berlin, Germany"  # conftest's settings
PLACEHOLDER_WORDS = ("DIGEST_POSTAL_ADDRESS", "required by law")


def unset(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={"postal_address": PLACEHOLDER_POSTAL_ADDRESS, **more})


@pytest.fixture
def placeholder_app(app, settings):
    app.state.digest.settings = unset(settings)
    return app


def test_the_setting_says_whether_it_was_given(settings):
    assert settings.postal_address_set and settings.reader_postal_address == ADDRESS
    for value in (PLACEHOLDER_POSTAL_ADDRESS, "", "   "):
        blank = settings.model_copy(update={"postal_address": value})
        assert not blank.postal_address_set and blank.reader_postal_address == ""


def test_public_pages_show_neither_the_placeholder_nor_the_consent_version(
    db, client, placeholder_app
):
    issue = make_issue(db)
    issue.status, issue.sent_at = "sent", T0
    db.commit()
    for path in ("/", "/archive", f"/archive/{issue.id}", "/no-such-page", "/confirm/bad"):
        page = client.get(path).text
        assert not any(words in page for words in PLACEHOLDER_WORDS), path
        assert "Consent text version" not in page and "2026-11-v1" not in page, path


def test_public_pages_show_the_address_once_it_is_set(client):
    assert ADDRESS in client.get("/").text and ADDRESS in client.get("/archive").text


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_digest_mails_leave_the_placeholder_out(db, settings, fmt):
    issue = make_issue(db)
    signer = Signer(settings.signing_keys())
    without = preview(db, issue, settings=unset(settings), signer=signer, fmt=fmt)
    assert not any(words in without for words in PLACEHOLDER_WORDS)
    assert "Past issues" in without  # the footer is still there
    with_it = preview(db, issue, settings=settings, signer=signer, fmt=fmt)
    assert "1 Test Street" in with_it


def test_the_welcome_mail_has_no_empty_signature():
    values = {
        "site_name": "Weekly Digest",
        "tagline": "Weekly.",
        "unsubscribe_url": "https://x.org/u/t",
        "archive_url": "https://x.org/archive",
        "name": None,
    }
    without = render_welcome(postal_address="", **values)
    assert not without.text.rstrip().endswith("--") and "\n--\n" not in without.text
    assert "Past issues</a><br />" not in without.html.replace("\n", "")
    signed = render_welcome(postal_address=ADDRESS, **values)
    assert signed.text.rstrip().endswith("--\n" + ADDRESS) and ADDRESS in signed.html


def test_the_welcome_a_reader_gets_has_no_placeholder(db, settings):
    (reader,) = add_readers(db, 1)
    kept = KeepingTransport()
    assert send_welcome(
        db, subscriber_id=reader.id, settings=unset(settings), transport=kept, now=T0
    )
    message = kept.sent[reader.email]
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert "Unsubscribe" in body or "unsubscribe" in body
        assert not any(words in body for words in PLACEHOLDER_WORDS), part


def test_the_admin_is_warned_on_every_page(client, editor, settings):  # noqa: F811
    assert log_in(client).status_code == 303
    assert "setting-warning" not in client.get("/admin").text
    client.app.state.digest.settings = unset(settings)
    page = client.get("/admin").text
    assert "setting-warning" in page and "DIGEST_POSTAL_ADDRESS</code> is not set" in page
    assert "embedded mode still sends" in page
    client.app.state.digest.settings = unset(settings, broker_url="redis://127.0.0.1:1/0")
    assert "cannot be sent until it is set" in client.get("/admin/readers").text


@pytest.mark.parametrize(
    "mode", [{"broker_url": "redis://127.0.0.1:1/0"}, {"smtp_url": "smtp://127.0.0.1:1"}]
)
def test_a_digest_to_real_inboxes_is_refused_without_an_address(db, settings, mode):
    issue = make_issue(db)
    with pytest.raises(SendRefused, match="DIGEST_POSTAL_ADDRESS is unset"):
        start_send(db, issue_id=issue.id, now=T0, settings=unset(settings, **mode))
    assert db.get(Issue, issue.id).status == IssueStatus.DRAFT
    # The same settings with an address send.
    assert start_send(db, issue_id=issue.id, now=T0, settings=settings.model_copy(update=mode))


def test_the_embedded_demo_still_sends_without_an_address(db, settings):
    add_readers(db, 1)
    issue = make_issue(db)
    assert start_send(db, issue_id=issue.id, now=T0, settings=unset(settings))
    assert db.scalar(select(Issue.status).where(Issue.id == issue.id)) == IssueStatus.SENDING


def test_the_api_answers_the_refusal_in_json(db, app, client, settings, admin_headers):
    issue = make_issue(db)
    db.commit()
    app.state.digest.settings = unset(settings, broker_url="redis://127.0.0.1:1/0")
    response = client.post(f"/api/issues/{issue.id}/send", headers=admin_headers)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("DIGEST_POSTAL_ADDRESS is unset")
