"""A digest through a relay that accepts every reader and bounces one later (SPEC §9).

The relay is the test SMTP server; the late bounce is a real Postfix 3.7 DSN
(tests/data/postfix-late-bounce.eml, made by Postfix for a digest it had accepted), addressed
to the VERP return path the relay saw, and piped into `digest bounces process -` as an MTA's
pipe(8) would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, set_publisher
from app.delivery.engine import send_batch, start_send
from app.delivery.smtp import SMTPTransport
from app.migrate import upgrade
from app.models import Delivery, Subscriber
from app.tokens import BOUNCE_TOKEN_IN_ADDRESS, MailRef, bounce_token, read_bounce_token
from tests.processes import free_port, service_env
from tests.smtp_server import SMTPTestServer
from tests.test_sending import T0, add_readers, make_issue

ROOT = Path(__file__).resolve().parent.parent
POSTFIX_DSN = (Path(__file__).parent / "data" / "postfix-late-bounce.eml").read_bytes()
# What Postfix wrote into that DSN for the digest it returned.
SAMPLE_RETURN_PATH = b"bounces+d5-5-hfi22iod72bfb@news.test"
SAMPLE_RECIPIENT = b"gone@example.net"
SAMPLE_MESSAGE_ID = b"<digest.5.5@news.test>"


@pytest.fixture
def relay_settings(tmp_path: Path, smtp_server: SMTPTestServer) -> Settings:
    url = f"sqlite:///{tmp_path / 'digest.db'}"  # committed: the CLI runs in another process
    upgrade(url)
    return Settings(
        var_dir=tmp_path / "var",
        database_url=url,
        smtp_url=smtp_server.url(),
        secret_key=["test-secret-key-0123456789abcdef"],
        bounce_address="bounces@news.example.org",
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
        postal_address="1 Test Street, Berlin",
    )


def _send_digest(settings: Settings) -> tuple[sessionmaker[Session], int, dict[str, int]]:
    """Send a three-reader digest through the relay; the session factory, issue and readers."""
    sessions = sessionmaker(make_engine(settings.sqlalchemy_url))
    set_publisher(lambda name, args, countdown=None: None)
    try:
        with sessions() as db:
            readers = add_readers(db, 3)
            issue = make_issue(db)
            db.commit()
            assert start_send(db, issue_id=issue.id, now=T0, settings=settings)
            db.commit()
            ids = {reader.email: reader.id for reader in readers}
            issue_id = issue.id
    finally:
        set_publisher(None)
    result = send_batch(
        sessions,
        issue_id=issue_id,
        batch=0,
        settings=settings,
        transport=SMTPTransport(settings.smtp_url),
        clock=lambda: T0,
    )
    assert result.outcomes == {"sent": 3}
    return sessions, issue_id, ids


def _dsn_for(return_path: str, recipient: str, message_id: str) -> bytes:
    """The real Postfix DSN, as that relay would have written it for this mail."""
    return (
        POSTFIX_DSN.replace(SAMPLE_RETURN_PATH, return_path.encode())
        .replace(SAMPLE_RECIPIENT, recipient.encode())
        .replace(SAMPLE_MESSAGE_ID, message_id.encode())
    )


def _pipe(settings: Settings, message: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    env = service_env(settings)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "bounces", "process", *(args or ("-",))],
        input=message.decode("utf-8", "surrogateescape") if message else "",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_a_late_bounce_piped_from_the_relay_bounces_exactly_that_reader(
    relay_settings: Settings, smtp_server: SMTPTestServer
) -> None:
    sessions, issue_id, readers = _send_digest(relay_settings)
    received = {m.rcpt_tos[0]: m for m in smtp_server.wait_for(3)}
    # Every reader's copy has its own return path, naming that issue and that reader.
    for address, reader_id in readers.items():
        local, _, domain = received[address].mail_from.partition("@")
        assert local.startswith("bounces+") and domain == "news.example.org"
        token = BOUNCE_TOKEN_IN_ADDRESS.search(received[address].mail_from).group(1)
        keys = relay_settings.signing_keys()
        assert read_bounce_token(keys, token) == MailRef("digest", issue_id, reader_id)

    gone = "r1@example.org"
    copy = received[gone]
    dsn = _dsn_for(copy.mail_from, gone, copy.message["Message-ID"])
    result = _pipe(relay_settings, dsn)
    assert result.returncode == 0, result.stderr
    assert f"permanent failure for {gone} → reader {readers[gone]} bounced (5.1.1)" in (
        result.stdout
    )
    with sessions() as db:
        statuses = dict(db.execute(select(Subscriber.email, Subscriber.status)).all())
        states = dict(
            db.execute(
                select(Subscriber.email, Delivery.state).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            ).all()
        )
    assert statuses == {
        "r0@example.org": "confirmed",
        gone: "bounced",
        "r2@example.org": "confirmed",
    }
    assert states == {"r0@example.org": "sent", gone: "bounced", "r2@example.org": "sent"}

    again = _pipe(relay_settings, dsn)
    assert again.returncode == 0 and "already processed: nothing changed" in again.stdout


def test_a_dsn_with_a_forged_token_changes_nobody(
    relay_settings: Settings, smtp_server: SMTPTestServer
) -> None:
    sessions, _, readers = _send_digest(relay_settings)
    copy = {m.rcpt_tos[0]: m for m in smtp_server.wait_for(3)}["r0@example.org"]
    # Someone who knows a reader's address and ids, but not the key, writes the report.
    token = BOUNCE_TOKEN_IN_ADDRESS.search(copy.mail_from).group(1)
    forged_path = copy.mail_from.replace(token, token[:-4] + "abcd")
    result = _pipe(relay_settings, _dsn_for(forged_path, "r0@example.org", "<x@y>"))
    assert result.returncode == 0
    assert "forged or foreign token" in result.stdout
    with sessions() as db:
        statuses = set(db.scalars(select(Subscriber.status)))
    assert statuses == {"confirmed"}


def test_bad_input_to_the_command_is_reported_and_changes_nothing(
    relay_settings: Settings, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\xff\xfe not a message at all")
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    result = _pipe(relay_settings, b"", str(junk), str(empty), str(tmp_path / "missing.eml"))
    assert result.returncode == 1  # one file could not be read; the others were
    assert f"{junk}: nothing to do" in result.stdout
    assert f"{empty}: nothing to do" in result.stdout
    assert "missing.eml: cannot read: No such file or directory" in result.stderr

    usage = _pipe(relay_settings, b"", "--")
    assert usage.returncode == 2 and "name one or more message files" in usage.stderr


def test_a_database_that_cannot_be_reached_asks_the_mta_to_try_again(
    relay_settings: Settings,
) -> None:
    token = bounce_token(relay_settings.signing_keys(), MailRef("digest", 1, 1))
    dsn = _dsn_for(f"bounces+{token}@news.example.org", "r0@example.org", "<digest.1.1@x>")
    relay_settings.database_url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    result = _pipe(relay_settings, dsn)
    assert result.returncode == 75, result.stderr  # EX_TEMPFAIL: Postfix keeps the message
    assert "database unavailable, try again later" in result.stderr
