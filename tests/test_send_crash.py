"""Crashes mid-send with real parts: PostgreSQL, Redis, Celery worker processes, an SMTP server.

Every reader must end in exactly one terminal state, nobody missed, and duplicate copies at most
the messages in flight when a worker died (one per worker process).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import func, insert, select

from app import clock
from app.config import Settings
from app.db import session_factory, session_scope, set_publisher
from app.delivery.control import cancel, progress, send_remaining, sweep
from app.delivery.engine import send_batch, start_send
from app.delivery.ledger import Ledger
from app.delivery.smtp import SMTPTransport
from app.migrate import upgrade
from app.models import Delivery, Issue, IssueItem, Post, Subscriber
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    needs_postgres,
    needs_redis,
)
from tests.processes import celery_worker, publisher_for, purge_queue, unique_queue, wait_until

pytestmark = [needs_postgres, needs_redis, pytest.mark.slow]
# A Redis database of its own: this file FLUSHDBs it, and other tests use db 0.
CRASH_BROKER = "redis://127.0.0.1:6379/9"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def crash_settings(tmp_path, smtp_server):
    url = create_postgres_database("crash")
    upgrade(url)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=url,
        broker_url=CRASH_BROKER,
        queue=unique_queue(),
        smtp_url=smtp_server.url(),
        secret_key=["crash-secret-key-0123456789abcdef"],
        base_url="https://digest.example.org",
        DIGEST_FROM="Weekly Digest <digest@news.example.org>",
        postal_address="1 Test Street",
        batch_size=50,
        lease_seconds=2,
        retry_delays=[1, 1],
    )
    _celery, publish = publisher_for(settings)
    set_publisher(publish)
    yield settings
    set_publisher(None)
    purge_queue(settings)
    drop_postgres_database(url)


# Reader n of a send with sections chose SECTION_CHOICES[n % 3]; each such list has a post of
# its own (title "<section> post"), the overall list only posts 1 and 2.
SECTION_CHOICES = ("", "wind", "policy")


def start_issue(settings: Settings, readers: int, *, sections: bool = False) -> int:
    """N confirmed readers, an issue with two posts, and its send started (tasks in Redis).

    With `sections`, a third of the readers chose Wind and a third Policy, and each of those
    sections has a post beyond the overall list: the send has three segments."""
    with session_scope(settings.database_url) as session:
        session.execute(
            insert(Subscriber),
            [
                {
                    "email": f"r{n}@example.org",
                    "status": "confirmed",
                    "source": "test",
                    "created_at": T0,
                    "updated_at": T0,
                    "confirm_nonce": 0,
                    "sections": SECTION_CHOICES[n % 3] if sections else "",
                }
                for n in range(readers)
            ],
        )
        issue = Issue(
            week="2026-W48",
            status="draft",
            subject="Crash-proof digest",
            intro="",
            pins=[],
            drops=[],
            created_at=T0,
            updated_at=T0,
        )
        session.add(issue)
        session.flush()
        for rank in (1, 2):
            post = Post(
                url=f"https://news.example.com/{rank}",
                title=f"Post {rank}",
                summary="Energy.",
                source="Example",
                topics=["energy"],
                published_at=T0,
                views=1,
                likes=1,
                shares=0,
                comments=0,
                created_at=T0,
                updated_at=T0,
            )
            session.add(post)
            session.flush()
            session.add(IssueItem(issue_id=issue.id, post_id=post.id, rank=rank, score=1.0))
        for rank, key in enumerate(SECTION_CHOICES[1:] if sections else (), start=3):
            post = Post(
                url=f"https://news.example.com/{key}",
                title=f"{key.title()} post",
                summary="Energy.",
                source=f"{key} outlet",
                topics=[key],
                published_at=T0,
                views=1,
                likes=1,
                shares=0,
                comments=0,
                created_at=T0,
                updated_at=T0,
            )
            session.add(post)
            session.flush()
            session.add(
                IssueItem(
                    issue_id=issue.id,
                    post_id=post.id,
                    rank=rank,
                    score=2.0,
                    sections=key,
                    overall=False,
                )
            )
        session.flush()
        assert start_send(session, issue_id=issue.id, now=clock.now(), settings=settings)
        return issue.id


def counts(settings: Settings, issue_id: int) -> dict:
    with session_scope(settings.database_url) as session:
        return progress(session, issue_id)


def sweep_until_sent(settings: Settings, issue_id: int, timeout: float = 40) -> dict:
    """Run the sweeper every half second (as beat would, faster) until the issue is sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = counts(settings, issue_id)
        if state["status"] == "sent":
            return state
        with session_scope(settings.database_url) as session:
            sweep(session, now=clock.now(), settings=settings)
        time.sleep(0.5)
    raise AssertionError(f"issue not sent within {timeout} s: {counts(settings, issue_id)}")


def check_ledger(settings: Settings, issue_id: int, readers: int, smtp_server) -> Counter:
    """Every reader has one terminal row and got the digest; returns copies per recipient."""
    with session_scope(settings.database_url) as session:
        rows = session.execute(select(Delivery.state).where(Delivery.issue_id == issue_id)).all()
    assert len(rows) == readers
    assert Counter(state for (state,) in rows) == {"sent": readers}
    copies = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    assert set(copies) == {f"r{n}@example.org" for n in range(readers)}  # nobody missed
    return copies


def test_worker_killed_mid_send_resumes_with_at_most_in_flight_duplicates(
    crash_settings, smtp_server, tmp_path
):
    readers, concurrency = 400, 2
    smtp_server.faults.slow(None, 0.02)  # ~20 ms a message: a window to kill in
    issue_id = start_issue(crash_settings, readers)
    with celery_worker(
        crash_settings, log=tmp_path / "w1.log", concurrency=concurrency, pool="prefork"
    ) as worker:
        wait_until(lambda: counts(crash_settings, issue_id)["sent"] >= 100, timeout=40)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    stranded = counts(crash_settings, issue_id)
    assert stranded["status"] == "sending" and stranded["sent"] < readers
    with celery_worker(crash_settings, log=tmp_path / "w2.log"):
        state = sweep_until_sent(crash_settings, issue_id)
    assert state["sent"] == readers
    copies = check_ledger(crash_settings, issue_id, readers, smtp_server)
    duplicates = sum(copies.values()) - readers
    # The bound: one message in flight per worker process at the SIGKILL.
    print(f"SIGKILL mid-send: {duplicates} duplicate(s), bound {concurrency} (in flight)")
    assert duplicates <= concurrency, (duplicates, copies.most_common(5))


def test_worker_killed_mid_send_with_segments_gives_each_reader_their_own_list_once(
    crash_settings, smtp_server, tmp_path
):
    """As above with three segments: every copy a reader got, duplicates included, is the
    list of the sections they chose, rendered once for their segment."""
    readers, concurrency = 300, 2
    smtp_server.faults.slow(None, 0.02)
    issue_id = start_issue(crash_settings, readers, sections=True)
    with celery_worker(
        crash_settings, log=tmp_path / "w1.log", concurrency=concurrency, pool="prefork"
    ) as worker:
        wait_until(lambda: counts(crash_settings, issue_id)["sent"] >= 60, timeout=40)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    assert counts(crash_settings, issue_id)["sent"] < readers
    with celery_worker(crash_settings, log=tmp_path / "w2.log"):
        sweep_until_sent(crash_settings, issue_id)
    copies = check_ledger(crash_settings, issue_id, readers, smtp_server)
    assert sum(copies.values()) - readers <= concurrency
    for received in smtp_server.messages:
        number = int(received.rcpt_tos[0][1:].partition("@")[0])
        chosen = SECTION_CHOICES[number % 3]
        text = received.message.get_body(("plain",)).get_content()
        for key in SECTION_CHOICES[1:]:
            assert (f"{key.title()} post" in text) == (key == chosen), (received.rcpt_tos, key)
    with session_scope(crash_settings.database_url) as session:
        segments = session.execute(
            select(Delivery.segment, func.count()).group_by(Delivery.segment)
        ).all()
    assert sorted(segments) == [(0, 100), (1, 100), (2, 100)]


def test_broker_emptied_mid_send_only_delays_it(crash_settings, smtp_server, tmp_path):
    readers = 300
    smtp_server.faults.slow(None, 0.01)
    issue_id = start_issue(crash_settings, readers)
    with celery_worker(crash_settings, log=tmp_path / "w.log"):
        wait_until(lambda: counts(crash_settings, issue_id)["sent"] >= 30, timeout=40)
        client = redis.Redis.from_url(CRASH_BROKER)
        client.flushdb()  # every queued batch is gone
        client.close()
        time.sleep(3)  # the batch in hand finishes; nothing else is queued any more
        assert counts(crash_settings, issue_id)["pending"] > 0
        sweep_until_sent(crash_settings, issue_id)
    copies = check_ledger(crash_settings, issue_id, readers, smtp_server)
    assert max(copies.values()) == 1  # nobody killed: no duplicates at all


def test_two_workers_and_duplicate_tasks_send_each_reader_once(
    crash_settings, smtp_server, tmp_path
):
    readers = 300
    issue_id = start_issue(crash_settings, readers)
    with session_scope(crash_settings.database_url) as session:
        # A second copy of every batch task, as a sweeper run or a redelivery would queue.
        from app.db import enqueue

        for batch in range(readers // crash_settings.batch_size):
            enqueue(session, "digest.send_batch", issue_id, batch)
    with (
        celery_worker(crash_settings, log=tmp_path / "a.log", name="a"),
        celery_worker(crash_settings, log=tmp_path / "b.log", name="b"),
    ):
        wait_until(lambda: counts(crash_settings, issue_id)["status"] == "sent", timeout=60)
        time.sleep(1)  # let the duplicate tasks run too
    copies = check_ledger(crash_settings, issue_id, readers, smtp_server)
    assert max(copies.values()) == 1
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert logs.count("digest.send_batch") >= readers // crash_settings.batch_size


def test_cancel_then_send_to_the_rest_mails_each_reader_once(crash_settings, smtp_server, tmp_path):
    """Cancelled mid-send, twice, with batches in flight; the rest sent each time: no reader is
    missed or mailed twice. The second "send to the rest" comes at once, while batches still
    hold rows, so a batch's hand-back and the un-cancel race."""
    readers = 400
    smtp_server.faults.slow(None, 0.01)
    issue_id = start_issue(crash_settings, readers)

    def control(action, **kwargs) -> None:
        with session_scope(crash_settings.database_url) as session:
            action(session, issue_id=issue_id, now=clock.now(), **kwargs)

    with celery_worker(crash_settings, log=tmp_path / "w.log", concurrency=2, pool="prefork"):
        wait_until(lambda: counts(crash_settings, issue_id)["sent"] >= 60, timeout=40)
        control(cancel)
        settled = wait_until(
            lambda: (state := counts(crash_settings, issue_id))["sending"] == 0 and state,
            timeout=20,
        )
        assert settled["status"] == "cancelled" and settled["pending"] == 0
        assert settled["sent"] + settled["cancelled"] == readers and settled["cancelled"] > 0
        time.sleep(1)
        assert counts(crash_settings, issue_id)["sent"] == settled["sent"]  # nothing more went

        control(send_remaining)
        wait_until(lambda: counts(crash_settings, issue_id)["sent"] >= settled["sent"] + 60)
        control(cancel)
        control(send_remaining)
        sweep_until_sent(crash_settings, issue_id)
    copies = check_ledger(crash_settings, issue_id, readers, smtp_server)
    assert max(copies.values()) == 1, copies.most_common(3)


def test_rows_handed_back_wait_for_a_send_to_the_rest_under_way(crash_settings):
    """A batch hands its rows back while an editor's "send to the rest" is committing: the
    hand-back waits on the issue's row lock and then sees `sending`, so its rows go back to
    `pending` and are sent, not left `cancelled` under an issue that goes on without them."""
    issue_id = start_issue(crash_settings, 60)  # batch 0: 50 readers, batch 1: 10
    sessions = session_factory(crash_settings.database_url)
    now = clock.now()
    with sessions() as worker, sessions() as editor:
        ledger = Ledger(worker, issue_id=issue_id, batch=0)
        claimed = ledger.claim(now=now, lease_until=now + timedelta(minutes=1))
        held = [row.delivery_id for row in claimed]
        assert cancel(editor, issue_id=issue_id, now=now)  # batch 1's rows: cancelled
        editor.commit()
        assert send_remaining(editor, issue_id=issue_id, now=now)  # not committed yet
        handing_back = threading.Thread(target=ledger.give_back, args=(held,), kwargs={"now": now})
        handing_back.start()
        handing_back.join(timeout=1)
        assert handing_back.is_alive()  # waiting for the editor's transaction
        editor.commit()
        handing_back.join(timeout=10)
        assert not handing_back.is_alive()
        ledger.close()
    state = counts(crash_settings, issue_id)
    assert (state["status"], state["pending"], state["cancelled"]) == ("sending", 60, 0)


def test_sweep_ignores_an_issue_progressing_normally(crash_settings):
    """Sanity for the stall rule the tests above rely on: a fresh send is left alone."""
    start_issue(crash_settings, 10)
    with session_scope(crash_settings.database_url) as session:
        report = sweep(session, now=clock.now(), settings=crash_settings)
    assert report["queued"] == 0
    with session_scope(crash_settings.database_url) as session:
        later = clock.now() + timedelta(seconds=crash_settings.lease_seconds + 1)
        assert sweep(session, now=later, settings=crash_settings)["queued"] == 1


def test_fast_outcome_connection_goes_back_to_the_pool_as_it_came(crash_settings, smtp_server):
    """On an engine the batch records outcomes in autocommit with synchronous_commit off."""
    issue_id = start_issue(crash_settings, 5)
    sessions = session_factory(crash_settings.database_url)
    result = send_batch(
        sessions,
        issue_id=issue_id,
        batch=0,
        settings=crash_settings,
        transport=SMTPTransport(crash_settings.smtp_url),
    )
    assert result.outcomes["sent"] == 5 and result.finished
    assert counts(crash_settings, issue_id)["sent"] == 5
    assert len(smtp_server.wait_for(5)) == 5
    engine = sessions.kw["bind"]
    assert engine.pool.checkedin() >= 2  # the session's connection and the fast one
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            assert connection.connection.driver_connection.autocommit is False
