"""app.bounces.mailbox against a real Dovecot (IMAP, IMAPS, STARTTLS, POP3, POP3S): what was
processed leaves the mailbox, what failed stays unread, and a bad mailbox is one clear error."""

from __future__ import annotations

import imaplib
import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.bounces.events import Report
from app.bounces.mailbox import MailboxError, poll_mailbox
from app.bounces.outcomes import Applied
from app.config import Settings, get_settings
from app.db import session_scope
from app.mailservers import parse_mailbox_url
from app.migrate import upgrade
from app.models import BounceKind, Subscriber
from app.tokens import MailRef, bounce_token
from tests.dovecot_server import PASSWORD, USER, Dovecot, dovecot_server  # noqa: F401
from workers.celery_app import make_celery
from workers.tasks import poll_bounces_task

SECRET = "test-secret-key-0123456789abcdef"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


# --- DIGEST_BOUNCE_MAILBOX as the settings read it ----------------------------------------------


def test_a_mailbox_url_gives_every_part_decoded_with_the_default_ports() -> None:
    box = parse_mailbox_url("imaps://bounces%40x.org:p%2Fw%20d@mail.x.org/Bounces%20In?timeout=5")
    assert (box.protocol, box.host, box.port, box.folder) == (
        "imap",
        "mail.x.org",
        993,
        "Bounces In",
    )
    assert (box.username, box.password, box.timeout) == ("bounces@x.org", "p/w d", 5.0)
    assert box.implicit_tls and box.verify and box.delete and not box.starttls
    assert "p%2Fw" not in repr(box) and "***" in box.shown
    ports = {s: parse_mailbox_url(f"{s}://u:p@h").port for s in ("imap", "imaps", "pop3", "pop3s")}
    assert ports == {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
    plain = parse_mailbox_url("imap://u:p@h:1143/?starttls=true&verify=false&delete=false")
    assert (plain.folder, plain.implicit_tls, plain.starttls, plain.verify, plain.delete) == (
        "INBOX",
        False,
        True,
        False,
        False,
    )


@pytest.mark.parametrize(
    "url, reason",
    [
        ("https://u:hunter2@h/INBOX", "scheme must be one of imaps, imap, pop3s, pop3"),
        ("imaps://mail.example.org/INBOX", "the user to log in as is missing"),
        ("imaps://u:hunter2@/INBOX", "the host"),
        ("imaps://u:hunter2@h:99999/INBOX", "the port must be 1-65535"),
        ("pop3s://u:hunter2@h/Bounces", "a folder on POP3"),
        ("imaps://u:hunter2@h?starttls=true", "already TLS"),
        ("imap://u:hunter2@h?starttls=maybe", "starttls='maybe' must be true or false"),
        ("imaps://u:hunter2@h?tls=1", "unknown option(s) ['tls']"),
        ("imaps://u:hunter2@h?timeout=0", "timeout must be a number of seconds"),
        ("pop3s://u:hunter2@h?delete=false", "POP3 cannot flag"),
    ],
)
def test_a_bad_mailbox_url_stops_the_start_with_its_reason_and_no_password(
    url: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(bounce_mailbox=url)
    assert reason in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_beat_polls_the_mailbox_only_when_one_is_set(tmp_path: Path) -> None:
    unset = make_celery(Settings(var_dir=tmp_path))
    assert "poll-bounces" not in unset.conf.beat_schedule
    polled = make_celery(
        Settings(var_dir=tmp_path, bounce_mailbox="imaps://u:p@h/INBOX", bounce_poll_minutes=2)
    )
    entry = polled.conf.beat_schedule["poll-bounces"]
    assert (entry["task"], entry["schedule"]) == ("digest.poll_bounces", 120.0)


def test_polling_without_a_mailbox_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MailboxError, match="DIGEST_BOUNCE_MAILBOX is not set"):
        poll_mailbox(Settings(var_dir=tmp_path))


# --- the poller's own rules, with a `process` that records what it was handed ------------------


class Recorder:
    """Stands in for `process_message`: records each message; raises for subjects in `fail`;
    a subject starting "chat" holds no bounce (an `Applied` without a report)."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.fail = fail
        self.subjects: list[str] = []
        self.raw: list[bytes] = []

    def __call__(self, raw: bytes, *, source: str, settings: Settings) -> list[Applied]:
        assert source == "mailbox"
        subject = next(
            line[9:].decode() for line in raw.splitlines() if line.startswith(b"Subject: ")
        )
        if subject in self.fail:
            raise ConnectionError(f"database unreachable while applying {subject}")
        self.subjects.append(subject)
        self.raw.append(raw)
        if subject.startswith("chat"):
            return [Applied("nothing to do: not a bounce")]
        report = Report(kind=BounceKind.HARD, status="5.1.1")
        return [Applied(f"applied {subject}", report=report, changed=True, subscriber_id=1)]


def message(subject: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "MAILER-DAEMON@relay.example.org"
    mail["To"] = "bounces@news.example.org"
    mail["Subject"] = subject
    mail.set_content(f"Body of {subject}.\n")
    return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Iterator[Dovecot]:  # noqa: F811
    """The module's Dovecot with an empty inbox."""
    dovecot_server.maildir.clear()
    yield dovecot_server


def left_in_inbox(server: Dovecot) -> dict[str, str]:
    """Subject -> Maildir flags ("S" seen, "T" deleted) of every message still in the inbox."""
    server.maildir._refresh()  # noqa: SLF001 - Dovecot renamed files since the last look
    return {msg["Subject"]: msg.get_flags() for msg in server.maildir}


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var", secret_key=[SECRET], bounce_mailbox=url)


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_processed_messages_leave_the_mailbox_byte_for_byte_as_delivered(
    dovecot: Dovecot, tmp_path: Path, scheme: str
) -> None:
    sent = [message(f"bounce {n}") for n in range(3)]
    for raw in sent:
        dovecot.deliver(raw)
    process = Recorder()
    result = poll_mailbox(settings_for(dovecot.url(scheme), tmp_path), process=process)
    assert sorted(process.raw) == sorted(sent)
    assert result.as_dict() == dict(seen=3, processed=3, changed=3, deleted=3, failed=0, left=0)
    assert left_in_inbox(dovecot) == {}
    again = poll_mailbox(settings_for(dovecot.url(scheme), tmp_path), process=process)
    assert again.seen == 0 and len(process.raw) == 3


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_message_whose_processing_fails_stays_unread_for_the_next_poll(
    dovecot: Dovecot, tmp_path: Path, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(3):
        dovecot.deliver(message(f"bounce {n}"))
    settings = settings_for(dovecot.url(scheme), tmp_path)
    with caplog.at_level(logging.WARNING):
        result = poll_mailbox(settings, process=Recorder(fail=("bounce 1",)))
    assert (result.processed, result.failed, result.deleted, result.left) == (2, 1, 2, 1)
    # IMAP: neither seen nor flagged deleted. POP3 knows no flags (Dovecot notes RETR as seen).
    assert left_in_inbox(dovecot) == {"bounce 1": "" if scheme == "imap" else "S"}
    assert "kept for the next poll: ConnectionError: database unreachable" in caplog.text
    retry = Recorder()
    assert poll_mailbox(settings, process=retry).deleted == 1
    assert retry.subjects == ["bounce 1"] and left_in_inbox(dovecot) == {}


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_message_with_a_line_far_over_the_limits_of_mail_is_read_whole(
    dovecot: Dovecot, tmp_path: Path, scheme: str
) -> None:
    sent = message("bounce long").replace(b"Body of", b"<td>" + b"x" * 300_000 + b"</td>")
    dovecot.deliver(sent)
    process = Recorder()
    assert poll_mailbox(settings_for(dovecot.url(scheme), tmp_path), process=process).deleted == 1
    assert process.raw == [sent]


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_poll_reads_at_most_limit_messages_and_counts_the_rest(
    dovecot: Dovecot, tmp_path: Path, scheme: str
) -> None:
    for n in range(5):
        dovecot.deliver(message(f"bounce {n}"))
    settings = settings_for(dovecot.url(scheme), tmp_path)
    first, second = Recorder(), Recorder()
    assert poll_mailbox(settings, process=first, limit=2).left == 3
    assert len(first.subjects) == 2 and len(left_in_inbox(dovecot)) == 3
    assert poll_mailbox(settings, process=second, limit=10).processed == 3
    assert sorted(first.subjects + second.subjects) == [f"bounce {n}" for n in range(5)]


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_connection_lost_midway_loses_nothing_and_the_next_poll_finishes(
    dovecot: Dovecot, tmp_path: Path, scheme: str
) -> None:
    for n in range(3):
        dovecot.deliver(message(f"bounce {n}"))
    settings = settings_for(dovecot.url(scheme), tmp_path)

    first = Recorder()

    def kicked_during_the_second(raw: bytes, *, source: str, settings: Settings) -> list[Applied]:
        applied = first(raw, source=source, settings=settings)
        if len(first.subjects) == 2:  # applied, but the session ends before it is flagged
            subprocess.run([*dovecot.doveadm, "kick", USER], check=True, capture_output=True)
        return applied

    with pytest.raises(MailboxError):
        poll_mailbox(settings, process=kicked_during_the_second)
    # Nothing is gone: POP3 forgot its DELE, IMAP flagged only the first (hidden, not expunged).
    assert len(left_in_inbox(dovecot)) == 3
    retry = Recorder()
    result = poll_mailbox(settings, process=retry)
    assert result.failed == 0 and left_in_inbox(dovecot) == {}
    # What was applied but not yet deleted is read again (process_message knows it by then).
    [unread] = {f"bounce {n}" for n in range(3)} - set(first.subjects)
    again = first.subjects if scheme == "pop3" else first.subjects[1:]
    # The kick races with the flagging of the second message: it may or may not be read again.
    assert retry.subjects[-1] == unread and set(retry.subjects) <= {*again, unread}


def test_imap_keeps_a_message_without_a_bounce_flagged_seen_for_a_person(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.deliver(message("bounce 0"))
    dovecot.deliver(message("chat: out of office"))
    settings = settings_for(dovecot.url("imap"), tmp_path)
    result = poll_mailbox(settings, process=Recorder())
    assert (result.processed, result.deleted) == (2, 1)
    assert left_in_inbox(dovecot) == {"chat: out of office": "S"}
    assert poll_mailbox(settings, process=Recorder()).seen == 0  # not read a second time


def test_imap_with_delete_false_only_flags_what_it_processed(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.deliver(message("bounce 0"))
    settings = settings_for(dovecot.url("imap", query="delete=false"), tmp_path)
    assert poll_mailbox(settings, process=Recorder()).deleted == 0
    assert left_in_inbox(dovecot) == {"bounce 0": "S"}
    assert poll_mailbox(settings, process=Recorder()).seen == 0


@pytest.mark.parametrize(
    "scheme, query",
    [("imaps", "verify=false"), ("imap", "starttls=true&verify=false")]
    + [("pop3s", "verify=false"), ("pop3", "starttls=true&verify=false")],
)
def test_tls_and_starttls_with_a_self_signed_certificate_when_told_to_accept_it(
    dovecot: Dovecot, tmp_path: Path, scheme: str, query: str
) -> None:
    dovecot.deliver(message("bounce 0"))
    settings = settings_for(dovecot.url(scheme, query=query), tmp_path)
    assert poll_mailbox(settings, process=Recorder()).deleted == 1
    assert left_in_inbox(dovecot) == {}


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_a_self_signed_certificate_is_refused_by_default_and_nothing_is_touched(
    dovecot: Dovecot, tmp_path: Path, scheme: str
) -> None:
    dovecot.deliver(message("bounce 0"))
    with pytest.raises(MailboxError, match=r"TLS certificate refused .*\?verify=false"):
        poll_mailbox(settings_for(dovecot.url(scheme), tmp_path), process=Recorder())
    assert left_in_inbox(dovecot) == {"bounce 0": ""}


def test_imap_reads_the_folder_named_in_the_url(dovecot: Dovecot, tmp_path: Path) -> None:
    with imaplib.IMAP4("127.0.0.1", dovecot.ports["imap"]) as client:
        client.login(USER, PASSWORD)
        client.create('"Bounces In"')
        client.append('"Bounces In"', None, None, message("bounce in folder"))
    dovecot.deliver(message("bounce in inbox"))
    process = Recorder()
    url = dovecot.url("imap", path="/Bounces%20In")
    assert poll_mailbox(settings_for(url, tmp_path), process=process).deleted == 1
    assert process.subjects == ["bounce in folder"]
    assert left_in_inbox(dovecot) == {"bounce in inbox": ""}


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_wrong_password_is_one_clear_error_without_the_password(
    dovecot: Dovecot, tmp_path: Path, scheme: str
) -> None:
    dovecot.deliver(message("bounce 0"))
    settings = settings_for(dovecot.url(scheme, password="wrong-guess"), tmp_path)
    with pytest.raises(MailboxError) as caught:
        poll_mailbox(settings, process=Recorder())
    assert f"login as '{USER}' refused" in str(caught.value)
    assert "wrong-guess" not in str(caught.value) and "Authentication failed" in str(caught.value)
    assert left_in_inbox(dovecot) == {"bounce 0": ""}


def test_a_folder_that_does_not_exist_is_one_clear_error(dovecot: Dovecot, tmp_path: Path) -> None:
    url = dovecot.url("imap", path="/NoSuchFolder")
    with pytest.raises(MailboxError, match="folder 'NoSuchFolder' cannot be opened"):
        poll_mailbox(settings_for(url, tmp_path), process=Recorder())


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_an_unreachable_server_is_one_clear_error_at_once(tmp_path: Path, scheme: str) -> None:
    closed = parse_mailbox_url(f"{scheme}://u:p@127.0.0.1:1/").port
    started = time.monotonic()
    with pytest.raises(MailboxError, match=rf"{scheme}://u:\*\*\*@127.0.0.1:{closed}.*refused"):
        poll_mailbox(settings_for(f"{scheme}://u:p@127.0.0.1:{closed}/", tmp_path))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("scheme", ["imap", "pop3s"])
def test_a_server_that_never_answers_times_out_with_a_clear_error(
    tmp_path: Path, scheme: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never greets
        port = silent.getsockname()[1]
        url = f"{scheme}://u:p@127.0.0.1:{port}/?timeout=0.5"
        started = time.monotonic()
        with pytest.raises(MailboxError, match="timed out"):
            poll_mailbox(settings_for(url, tmp_path), process=Recorder())
    assert time.monotonic() - started < 5


# --- end to end: a real DSN through the real process_message into the database ------------------


def dsn_for(reader_email: str, token: str) -> bytes:
    """A Postfix-style RFC 3464 report: the relay accepted the digest, the next hop said 5.1.1."""
    boundary = "8C1E95A0F7.1764662400/relay.example.org"
    return (
        "Return-Path: <>\r\n"
        f"To: bounces+{token}@news.example.org\r\n"
        "From: MAILER-DAEMON@relay.example.org (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 30 Nov 2026 09:05:00 +0000 (UTC)\r\n"
        "Message-Id: <20261130090500.8C1E95A0F7@relay.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        f"<{reader_email}>: host mx.example.org[192.0.2.25] said: 550 5.1.1\r\n"
        f"    <{reader_email}>: Recipient address rejected: User unknown\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; relay.example.org\r\n"
        "X-Postfix-Queue-ID: 8C1E95A0F7\r\n"
        "Arrival-Date: Mon, 30 Nov 2026 09:00:01 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {reader_email}\r\n"
        f"Original-Recipient: rfc822;{reader_email}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mx.example.org\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{reader_email}>: Recipient address rejected:\r\n"
        "    User unknown\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Return-Path: <bounces+{token}@news.example.org>\r\n"
        "From: Weekly Digest <digest@news.example.org>\r\n"
        f"To: {reader_email}\r\n"
        "Subject: Your top 10 sustainability & energy posts\r\n"
        "\r\n"
        f"--{boundary}--\r\n"
    ).encode()


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A migrated SQLite file of its own: process_message commits, so no shared test database."""
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    upgrade(url)
    return url


def add_reader(url: str, email: str) -> int:
    with session_scope(url) as session:
        reader = Subscriber(
            email=email, status="confirmed", source="test", created_at=T0, updated_at=T0
        )
        session.add(reader)
        session.flush()
        return reader.id


def status_of(url: str, reader_id: int) -> str:
    with session_scope(url) as session:
        return session.scalars(select(Subscriber.status).where(Subscriber.id == reader_id)).one()


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_real_dsn_in_the_mailbox_bounces_its_reader(
    dovecot: Dovecot, tmp_path: Path, database: str, scheme: str
) -> None:
    reader_id = add_reader(database, "gone@example.org")
    bystander_id = add_reader(database, "here@example.org")
    token = bounce_token([SECRET], MailRef("confirm", None, reader_id))
    dovecot.deliver(dsn_for("gone@example.org", token))
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=database,
        secret_key=[SECRET],
        bounce_mailbox=dovecot.url(scheme),
    )
    result = poll_mailbox(settings)
    assert (result.processed, result.changed, result.deleted) == (1, 1, 1)
    assert status_of(database, reader_id) == "bounced"
    assert status_of(database, bystander_id) == "confirmed"
    assert left_in_inbox(dovecot) == {}


def test_junk_is_kept_for_a_person_and_a_bounce_the_database_missed_stays_unread(
    dovecot: Dovecot, tmp_path: Path, database: str
) -> None:
    reader_id = add_reader(database, "gone@example.org")
    token = bounce_token([SECRET], MailRef("confirm", None, reader_id))
    dovecot.deliver(b"\x00\xff garbage without headers \r\n\r\n\x80\x81")
    dovecot.deliver(dsn_for("gone@example.org", token))
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=database,
        secret_key=[SECRET],
        bounce_mailbox=dovecot.url("imap"),
    )
    # The database cannot be reached: the DSN stays as it was, the junk needed no database.
    broken = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/no/such/dir.db"})
    down = poll_mailbox(broken)
    assert (down.seen, down.processed, down.failed, down.left, down.deleted) == (2, 1, 1, 1, 0)
    inbox = left_in_inbox(dovecot)
    assert inbox == {None: "S", "Undelivered Mail Returned to Sender": ""}
    assert status_of(database, reader_id) == "confirmed"
    result = poll_mailbox(settings)
    assert (result.seen, result.processed, result.changed, result.deleted) == (1, 1, 1, 1)
    assert status_of(database, reader_id) == "bounced"
    assert left_in_inbox(dovecot) == {None: "S"}  # the junk, for a person to look at


def test_the_beat_task_polls_and_a_bad_mailbox_is_one_log_line(
    dovecot: Dovecot,
    tmp_path: Path,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader_id = add_reader(database, "gone@example.org")
    token = bounce_token([SECRET], MailRef("confirm", None, reader_id))
    dovecot.deliver(dsn_for("gone@example.org", token))
    monkeypatch.setenv("DIGEST_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DIGEST_DATABASE_URL", database)
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    monkeypatch.setenv(
        "DIGEST_BOUNCE_MAILBOX", dovecot.url("pop3s", password="nope", query="verify=false")
    )
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert poll_bounces_task() is None
        [record] = [r for r in caplog.records if r.name == "workers.tasks"]
        assert "login as" in record.getMessage() and record.exc_info is None
        assert status_of(database, reader_id) == "confirmed"
        monkeypatch.setenv("DIGEST_BOUNCE_MAILBOX", dovecot.url("pop3s", query="verify=false"))
        get_settings.cache_clear()
        assert poll_bounces_task() == dict(
            seen=1, processed=1, changed=1, deleted=1, failed=0, left=0
        )
        assert status_of(database, reader_id) == "bounced"
    finally:
        get_settings.cache_clear()
