"""A reader's links (app/readers/links.py): one shape, and the same link in every mail."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

import pytest
from itsdangerous import TimestampSigner

from app.delivery.engine import send_batch, start_send
from app.issues.mail import send_test
from app.readers.links import confirm_url, preview_links, reader_links
from app.readers.notifications import send_welcome
from app.readers.subscriptions import subscriber_for_unsubscribe
from app.tokens import CONFIRM, UNSUBSCRIBE, Signer
from tests.test_sending import T0, add_readers, make_issue

BASE = "http://testserver"


class KeepingTransport:
    """A transport that keeps each message it is given, parsed, by recipient."""

    def __init__(self) -> None:
        self.sent: dict[str, EmailMessage] = {}

    def __enter__(self) -> KeepingTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, *, sender: str, recipient: str, message: bytes) -> None:
        parsed = email.message_from_bytes(message, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.sent[recipient] = parsed


@pytest.fixture
def pinned_signing_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsubscribe tokens carry the second they were signed: pin it so mails can be compared."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: 1_795_000_000)


def test_links_keep_the_shape_mails_already_out_carry(db, settings):
    (reader,) = add_readers(db, 1)
    signer = Signer(settings.signing_keys())
    links = reader_links(BASE, signer, reader.id)
    token = links.unsubscribe.removeprefix(f"{BASE}/unsubscribe/")
    assert token != links.unsubscribe and "/" not in token
    assert signer.loads(UNSUBSCRIBE, token) == {"s": reader.id}
    assert subscriber_for_unsubscribe(db, signer=signer, token=token).id == reader.id
    assert preview_links(BASE).unsubscribe == f"{BASE}/unsubscribe/preview"
    confirm = confirm_url(BASE, signer, reader, now=T0).removeprefix(f"{BASE}/confirm/")
    assert signer.loads(CONFIRM, confirm, now=T0) == {"s": reader.id, "n": reader.confirm_nonce}


def test_the_links_are_the_formula_the_three_former_builders_wrote(
    db, settings, pinned_signing_time
):
    (reader,) = add_readers(db, 1)
    signer = Signer(settings.signing_keys())
    # What the welcome mail, the send engine and test copies each wrote out before.
    former = f"{BASE}/unsubscribe/{signer.dumps(UNSUBSCRIBE, {'s': reader.id})}"
    assert reader_links(BASE, signer, reader.id).unsubscribe == former
    confirm = signer.dumps(CONFIRM, {"s": reader.id, "n": reader.confirm_nonce}, now=T0)
    assert confirm_url(BASE, signer, reader, now=T0) == f"{BASE}/confirm/{confirm}"


def test_welcome_digest_and_test_copy_carry_the_readers_one_link(
    db, sessions, settings, pinned_signing_time
):
    (reader,) = add_readers(db, 1)
    issue = make_issue(db)
    signer = Signer(settings.signing_keys())
    expected = reader_links(settings.public_base_url, signer, reader.id).unsubscribe
    welcome, test_copy, digest = KeepingTransport(), KeepingTransport(), KeepingTransport()

    assert send_welcome(db, subscriber_id=reader.id, settings=settings, transport=welcome, now=T0)
    send_test(
        db,
        issue,
        emails=[reader.email],
        settings=settings,
        signer=signer,
        transport=test_copy,
        now=T0,
    )
    assert start_send(db, issue_id=issue.id, now=T0, settings=settings)
    db.commit()
    result = send_batch(
        sessions, issue_id=issue.id, batch=0, settings=settings, transport=digest, clock=lambda: T0
    )
    assert result.outcomes["sent"] == 1

    for name, transport in (("welcome", welcome), ("test", test_copy), ("digest", digest)):
        message = transport.sent[reader.email]
        header = re.fullmatch(r"<([^>]+)>", message["List-Unsubscribe"])
        assert header is not None and header[1] == expected, name
        assert expected in message.get_body(("plain",)).get_content(), name


def test_the_preference_centre_token_names_its_reader_and_day_and_nothing_else():
    from datetime import UTC, datetime, timedelta

    from app.tokens import InvalidToken, manage_link_token, read_manage_link_token

    keys = ["new-key-0123456789abcdef", "old-key-0123456789abcdef"]
    now = datetime(2026, 12, 2, 23, 59, tzinfo=UTC)
    token = manage_link_token(keys, 4321, now=now)
    assert read_manage_link_token(keys, token, now=now, max_days=120) == 4321
    # Signed with a key that is now second in the list (rotation): still read.
    old = manage_link_token(keys[1:], 4321, now=now)
    assert read_manage_link_token(keys, old, now=now, max_days=120) == 4321
    later = now + timedelta(days=120)
    assert read_manage_link_token(keys, token, now=later, max_days=120) == 4321
    reader, day, mac = token.split(".")
    refused = {
        "another reader": f"4322.{day}.{mac}",
        "another day": f"{reader}.{int(day) + 1}.{mac}",
        "a changed mac": f"{reader}.{day}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        "another key": manage_link_token(["stranger-key-0123456789ab"], 4321, now=now),
        "made in the future": manage_link_token(keys, 4321, now=now + timedelta(days=3)),
        "no token": "",
        "garbage": "../../etc/passwd",
        "an unsubscribe token": "eyJzIjo1fQ.axAUlg.PwXjQ4Y5GVIR99xCkuwquI7ZXeo",
    }
    for bad in refused.values():
        with pytest.raises(InvalidToken, match="not valid"):
            read_manage_link_token(keys, bad, now=now, max_days=120)
    with pytest.raises(InvalidToken, match="expired"):
        read_manage_link_token(keys, token, now=later + timedelta(days=1), max_days=120)
