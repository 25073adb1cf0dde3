"""app.delivery.transactional: each reader's mail acted on by the transports' verdict."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.config import Settings
from app.db import make_engine
from app.delivery.transactional import send_each
from app.delivery.transports import TransportUnavailable
from app.migrate import upgrade
from app.models import Subscriber, SubscriberStatus
from app.readers.notifications import send_welcome
from tests.processes import free_port
from tests.smtp_server import SMTPTestServer


def _readers(url: str, emails: dict[str, str]) -> list[int]:
    """Committed readers (address → status), in the order given; their ids."""
    engine = make_engine(url)
    now = clock.now()
    with Session(engine) as session:
        rows = [
            Subscriber(
                email=email,
                status=status,
                source="test",
                created_at=now,
                updated_at=now,
                confirm_nonce=0,
            )
            for email, status in emails.items()
        ]
        session.add_all(rows)
        session.commit()
        ids = [row.id for row in rows]
    engine.dispose()
    return ids


def _statuses(url: str) -> dict[str, str]:
    engine = make_engine(url)
    with Session(engine) as session:
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
    engine.dispose()
    return statuses


def _settings(tmp_path: Path, smtp_url: str) -> Settings:
    url = f"sqlite:///{tmp_path / 'mail.db'}"  # committed work: its own database
    upgrade(url)
    return Settings(
        var_dir=tmp_path,
        database_url=url,
        smtp_url=smtp_url,
        secret_key=["test-secret-key-0123456789abcdef"],
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
    )


def test_each_reader_gets_the_verdict_of_their_own_reply(
    tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    settings = _settings(tmp_path, smtp_server.url())
    confirmed = SubscriberStatus.CONFIRMED
    ids = _readers(
        settings.sqlalchemy_url,
        {
            "lost@example.org": confirmed,
            "ok@example.org": confirmed,
            "gone@example.org": confirmed,
            "busy@example.org": confirmed,
            "left@example.org": SubscriberStatus.UNSUBSCRIBED,
        },
    )
    smtp_server.faults.drop_after_data("lost@example.org", times=1)
    smtp_server.faults.reject("gone@example.org", "550 5.1.1 User unknown")
    smtp_server.faults.reject("busy@example.org", "451 4.2.1 Try later")

    run = send_each(send_welcome, ids, settings=settings)

    assert run.outcomes == {"unknown": 1, "sent": 1, "bounced": 1, "retry": 1, "skipped": 1}
    assert run.retry == [ids[3]]  # only the 4xx; the lost one may have arrived: never again
    assert "4.2.1" in str(run.error)
    statuses = _statuses(settings.sqlalchemy_url)
    assert statuses["gone@example.org"] == "bounced"  # a hard bounce suppresses the address
    assert statuses["busy@example.org"] == statuses["lost@example.org"] == "confirmed"
    assert "ok@example.org" in {r for m in smtp_server.messages for r in m.rcpt_tos}


def test_an_unusable_server_leaves_everyone_for_the_retry_and_marks_nobody(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, f"smtp://127.0.0.1:{free_port()}?timeout=2")
    ids = _readers(
        settings.sqlalchemy_url,
        {"a@example.org": SubscriberStatus.CONFIRMED, "b@example.org": SubscriberStatus.CONFIRMED},
    )

    run = send_each(send_welcome, ids, settings=settings)

    assert run.outcomes == {"retry": 2} and run.retry == ids
    assert isinstance(run.error, TransportUnavailable)
    assert set(_statuses(settings.sqlalchemy_url).values()) == {"confirmed"}


def test_no_transaction_is_open_while_the_smtp_server_answers(
    tmp_path: Path, smtp_server: SMTPTestServer
) -> None:
    """Every SQLite transaction holds the write lock (BEGIN IMMEDIATE): a slow SMTP server must
    not hold up the subscribe form, the API or /healthz while a welcome mail is on its way."""
    settings = _settings(tmp_path, smtp_server.url())
    ids = _readers(settings.sqlalchemy_url, {"slow@example.org": SubscriberStatus.CONFIRMED})
    smtp_server.faults.slow("slow@example.org", 3.0)
    sending = threading.Thread(
        target=send_each, args=(send_welcome, ids), kwargs={"settings": settings}
    )
    sending.start()
    try:
        time.sleep(1.0)  # the mail is now waiting for the server's RCPT answer
        other = make_engine(settings.sqlalchemy_url)  # another process's view: its own lock
        started = time.monotonic()
        with other.begin() as connection:
            connection.exec_driver_sql("UPDATE subscribers SET name = 'written' WHERE id > 0")
        waited = time.monotonic() - started
        other.dispose()
    finally:
        sending.join(timeout=30)
    assert smtp_server.messages, "the welcome mail went out"
    assert waited < 0.5, f"a writer waited {waited:.2f} s for the mail's transaction"
