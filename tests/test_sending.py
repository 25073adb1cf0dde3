"""The send engine against a real database and a real SMTP server: ledger, faults, controls."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.delivery.control import cancel, pause, progress, resume, send_remaining, sweep
from app.delivery.engine import (
    REQUEUE_WITHIN,
    BatchResult,
    SendRefused,
    requeue_countdown,
    send_batch,
    start_send,
)
from app.delivery.ledger import Ledger
from app.delivery.smtp import SMTPTransport
from app.issues.mail import NothingToSend
from app.models import (
    ConsentEvent,
    Delivery,
    Issue,
    IssueItem,
    Post,
    Subscriber,
)
from app.tracking.sends import send_progress

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def add_readers(db: Session, count: int, *, status: str = "confirmed", prefix: str = "r") -> list:
    """Readers r0@example.org … with the given status."""
    readers = [
        Subscriber(
            email=f"{prefix}{n}@example.org",
            status=status,
            source="test",
            created_at=T0,
            updated_at=T0,
            confirm_nonce=0,
        )
        for n in range(count)
    ]
    db.add_all(readers)
    db.flush()
    return readers


def make_issue(db: Session, posts: list[dict] | None = None, *, week: str = "2026-W48") -> Issue:
    """A draft issue whose items are `posts` (title/summary/url overrides), ranked in order."""
    posts = posts if posts is not None else [{}, {}, {}]
    issue = Issue(
        week=week,
        status="draft",
        subject="Your top 3 sustainability & energy posts",
        intro="This week: grids and heat pumps.",
        pins=[],
        drops=[],
        created_at=T0,
        updated_at=T0,
    )
    db.add(issue)
    db.flush()
    for rank, fields in enumerate(posts, start=1):
        post = Post(
            url=fields.get("url", f"https://news.example.com/{week}/{rank}"),
            title=fields.get("title", f"Solar story number {rank}"),
            summary=fields.get("summary", "A short summary of a post about the energy transition."),
            source=fields.get("source", "Example News"),
            topics=["energy"],
            published_at=T0 - timedelta(days=3),
            views=100,
            likes=10,
            shares=1,
            comments=0,
            created_at=T0,
            updated_at=T0,
        )
        db.add(post)
        db.flush()
        db.add(IssueItem(issue_id=issue.id, post_id=post.id, rank=rank, score=1.0, reasons={}))
    db.flush()
    return issue


@pytest.fixture
def send_settings(settings, smtp_server):
    """Small batches, short leases and retries, the test SMTP server."""
    settings.smtp_url = smtp_server.url()
    settings.batch_size = 2
    settings.lease_seconds = 2
    settings.retry_delays = [1, 5]
    return settings


def deliveries(db: Session, issue_id: int) -> dict[str, Delivery]:
    """The issue's ledger keyed by reader address."""
    db.expire_all()
    rows = db.execute(
        select(Subscriber.email, Delivery)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.issue_id == issue_id)
    )
    return {email: delivery for email, delivery in rows}


def run_all(sessions, db, issue, settings, *, at: datetime = T0) -> list:
    """Run every batch of the issue once, in order, as workers would."""
    batches = sorted({d.batch for d in deliveries(db, issue.id).values()})
    return [
        send_batch(
            sessions,
            issue_id=issue.id,
            batch=b,
            settings=settings,
            transport=SMTPTransport(settings.smtp_url),
            clock=lambda: at,
        )
        for b in batches
    ]


def started(db: Session, settings, readers: int = 3, **issue_options) -> Issue:
    add_readers(db, readers)
    issue = make_issue(db, **issue_options)
    assert start_send(db, issue_id=issue.id, now=T0, settings=settings)
    db.commit()
    return issue


def test_start_freezes_confirmed_readers_into_batches_once(db, send_settings, published):
    add_readers(db, 3)
    for status in ("pending", "unsubscribed", "bounced"):
        add_readers(db, 1, status=status, prefix=status)
    issue = make_issue(db)
    assert start_send(db, issue_id=issue.id, now=T0, settings=send_settings) is True
    db.commit()

    ledger = deliveries(db, issue.id)
    assert sorted(ledger) == ["r0@example.org", "r1@example.org", "r2@example.org"]
    assert sorted(d.batch for d in ledger.values()) == [0, 0, 1]
    assert {d.state for d in ledger.values()} == {"pending"}
    assert published == [("digest.send_batch", (issue.id, 0)), ("digest.send_batch", (issue.id, 1))]
    db.refresh(issue)
    assert issue.status == "sending" and issue.send_started_at == T0
    assert issue.message_template and b"Solar story number 1" in issue.message_template

    # A second click: nothing more, no new rows, no new tasks.
    assert start_send(db, issue_id=issue.id, now=T0, settings=send_settings) is False
    db.commit()
    assert db.scalar(select(func.count()).select_from(Delivery)) == 3
    assert len(published) == 2


def test_a_large_send_is_queued_through_fan_out_tasks(db, send_settings, published, monkeypatch):
    """Past FANOUT batches the request queues a few fan-out tasks, which queue every batch."""
    from app.delivery import engine
    from workers.tasks import queue_batches_task

    monkeypatch.setattr(engine, "FANOUT", 2)
    issue = started(db, send_settings, readers=9)  # batch size 2: batches 0..4
    fan_out = [args for name, args in published]
    assert [name for name, _ in published] == ["digest.queue_batches"] * 3
    assert fan_out == [(issue.id, 0, 2), (issue.id, 2, 4), (issue.id, 4, 5)]
    published.clear()
    for args in fan_out:
        queue_batches_task(*args)
    assert published == [("digest.send_batch", (issue.id, b)) for b in range(5)]


def test_start_refuses_an_issue_without_posts_or_not_a_draft(db, send_settings):
    add_readers(db, 2)
    empty = make_issue(db, [], week="2026-W47")
    with pytest.raises(NothingToSend, match="no posts"):
        start_send(db, issue_id=empty.id, now=T0, settings=send_settings)
    db.refresh(empty)
    assert empty.status == "draft"
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0

    cancelled = make_issue(db, week="2026-W46")
    cancelled.status = "cancelled"
    with pytest.raises(SendRefused, match="cancelled"):
        start_send(db, issue_id=cancelled.id, now=T0, settings=send_settings)


def test_sent_message_headers_mime_and_one_click_unsubscribe(
    db, sessions, send_settings, smtp_server, client, published
):
    issue = started(db, send_settings, readers=2)
    results = run_all(sessions, db, issue, send_settings)
    assert [r.outcomes["sent"] for r in results] == [2]

    received = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == ["r0@example.org", "r1@example.org"]
    assert {m.session for m in received} == {1}  # one SMTP connection for the batch
    message = next(m for m in received if m.rcpt_tos == ["r0@example.org"]).message
    reader = db.scalar(select(Subscriber).where(Subscriber.email == "r0@example.org"))
    assert message["From"] == "Weekly Digest <digest@news.example.org>"
    assert message["To"] == "r0@example.org"
    assert message["Subject"] == "Your top 3 sustainability & energy posts"
    assert message["Date"] == "Mon, 30 Nov 2026 09:00:00 +0000"
    assert message["Message-ID"] == f"<digest.{issue.id}.{reader.id}@news.example.org>"
    assert message["List-Id"] == "Weekly Digest <weekly.news.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk"
    assert message["Feedback-ID"] == f"{issue.id}:digest:weekly:news.example.org"
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]

    url = re.fullmatch(r"<(https?://[^>]+)>", message["List-Unsubscribe"])[1]
    assert url.startswith("http://testserver/unsubscribe/")
    assert url in message.get_body(("plain",)).get_content()
    answer = client.post(
        urlsplit(url).path,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 200
    db.expire_all()
    assert db.get(Subscriber, reader.id).status == "unsubscribed"
    db.refresh(issue)
    assert issue.status == "sent" and issue.sent_at == T0
    assert {d.state for d in deliveries(db, issue.id).values()} == {"sent"}


def test_temporary_failure_is_retried_later_then_sent(db, sessions, send_settings, smtp_server):
    issue = started(db, send_settings, readers=1)
    smtp_server.fail_next(1, "451 4.3.0 Try again later")
    first = run_all(sessions, db, issue, send_settings)[0]
    row = deliveries(db, issue.id)["r0@example.org"]
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.not_before == T0 + timedelta(seconds=1) == first.retry_at
    assert "451" in row.last_error

    too_early = run_all(sessions, db, issue, send_settings, at=T0)[0]
    assert too_early.claimed == 0 and smtp_server.messages == []
    later = run_all(sessions, db, issue, send_settings, at=T0 + timedelta(seconds=1))[0]
    assert later.outcomes["sent"] == 1 and later.finished
    row = deliveries(db, issue.id)["r0@example.org"]
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(smtp_server.wait_for(1)) == 1


def test_a_batch_with_a_retry_due_soon_runs_again_then_and_later_ones_wait_for_the_sweeper():
    due = BatchResult(claimed=3, retry_at=T0 + timedelta(seconds=15))
    assert requeue_countdown(due, now=T0) == 15
    assert requeue_countdown(due, now=T0 + timedelta(seconds=14.2)) == 1  # never "now"
    assert requeue_countdown(due, now=T0 + timedelta(seconds=30)) == 1  # overdue: at once
    assert requeue_countdown(due, now=T0 - timedelta(seconds=REQUEUE_WITHIN - 15)) == 60
    assert requeue_countdown(due, now=T0 - timedelta(seconds=REQUEUE_WITHIN - 14)) is None
    assert requeue_countdown(BatchResult(claimed=3), now=T0) is None  # nothing deferred
    # Claimed nothing: another run holds the rows and decides for itself.
    assert requeue_countdown(BatchResult(claimed=0, retry_at=T0), now=T0) is None


def test_temporary_failures_past_the_last_delay_fail(db, sessions, send_settings, smtp_server):
    issue = started(db, send_settings, readers=1)
    smtp_server.fail_next(3, "452 4.2.2 Mailbox full")
    for seconds in (0, 1, 6):
        run_all(sessions, db, issue, send_settings, at=T0 + timedelta(seconds=seconds))
    row = deliveries(db, issue.id)["r0@example.org"]
    assert (row.state, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("gave up after 3 tries")


def test_permanent_failure_and_hard_bounce(db, sessions, send_settings, smtp_server):
    issue = started(db, send_settings, readers=3)
    smtp_server.faults["r0@example.org"] = "550 5.7.1 Message refused by policy"
    smtp_server.faults["r1@example.org"] = "550 5.1.1 User unknown"
    run_all(sessions, db, issue, send_settings)
    ledger = deliveries(db, issue.id)
    assert (
        ledger["r0@example.org"].state == "failed"
        and "5.7.1" in ledger["r0@example.org"].last_error
    )
    assert ledger["r1@example.org"].state == "bounced"
    assert ledger["r2@example.org"].state == "sent"
    statuses = dict(db.execute(select(Subscriber.email, Subscriber.status)).tuples().all())
    assert statuses["r0@example.org"] == "confirmed"  # policy refusal: the address is fine
    assert statuses["r1@example.org"] == "bounced"
    kinds = list(
        db.scalars(select(ConsentEvent.kind).where(ConsentEvent.email == "r1@example.org"))
    )
    assert kinds == ["bounced"]
    db.refresh(issue)
    assert issue.status == "sent"


def test_authentication_failure_pauses_and_marks_nobody(
    db, sessions, send_settings, smtp_server_factory, published
):
    server = smtp_server_factory(auth=("digest", "right-password"))
    send_settings.smtp_url = server.url(user="digest", password="wrong-password")
    issue = started(db, send_settings, readers=3)
    published.clear()
    result = run_all(sessions, db, issue, send_settings)[0]
    assert result.paused and result.paused.startswith("SMTP authentication failed: 535")
    db.refresh(issue)
    assert issue.status == "paused" and issue.pause_reason == result.paused
    assert {(d.state, d.attempts) for d in deliveries(db, issue.id).values()} == {("pending", 0)}
    assert server.messages == []
    # The other batch, queued before the pause, does nothing.
    assert (
        send_batch(
            sessions,
            issue_id=issue.id,
            batch=1,
            settings=send_settings,
            transport=SMTPTransport(send_settings.smtp_url),
            clock=lambda: T0,
        ).claimed
        == 0
    )

    send_settings.smtp_url = server.url()  # the admin fixes the password, then resumes
    assert resume(db, issue_id=issue.id, now=T0) is True
    db.commit()
    assert published == [("digest.send_batch", (issue.id, 0)), ("digest.send_batch", (issue.id, 1))]
    run_all(sessions, db, issue, send_settings)
    assert {d.state for d in deliveries(db, issue.id).values()} == {"sent"}
    assert len(server.wait_for(3)) == 3


def test_connection_lost_after_data_is_unknown_and_not_resent(
    db, sessions, send_settings, smtp_server
):
    issue = started(db, send_settings, readers=2)
    smtp_server.faults.drop_after_data("r0@example.org", times=1)
    run_all(sessions, db, issue, send_settings)
    ledger = deliveries(db, issue.id)
    assert ledger["r0@example.org"].state == "unknown"
    assert "after the message data" in ledger["r0@example.org"].last_error
    assert ledger["r1@example.org"].state == "sent"
    run_all(sessions, db, issue, send_settings, at=T0 + timedelta(hours=1))
    sweep(db, now=T0 + timedelta(hours=1), settings=send_settings)
    db.commit()
    copies = [m for m in smtp_server.wait_for(2) if m.rcpt_tos == ["r0@example.org"]]
    assert len(copies) == 1  # stored once by the server, never sent again
    db.refresh(issue)
    assert issue.status == "sent"


def test_reader_who_left_after_the_freeze_gets_nothing(db, sessions, send_settings, smtp_server):
    issue = started(db, send_settings, readers=2)
    leaver = db.scalar(select(Subscriber).where(Subscriber.email == "r1@example.org"))
    leaver.status = "unsubscribed"
    db.commit()
    run_all(sessions, db, issue, send_settings)
    ledger = deliveries(db, issue.id)
    assert ledger["r1@example.org"].state == "skipped"
    assert ledger["r0@example.org"].state == "sent"
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["r0@example.org"]]


def test_pause_resume_cancel(db, sessions, send_settings, smtp_server, published):
    issue = started(db, send_settings, readers=3)
    assert pause(db, issue_id=issue.id, now=T0) is True
    assert pause(db, issue_id=issue.id, now=T0) is False
    db.commit()
    assert all(r.claimed == 0 for r in run_all(sessions, db, issue, send_settings))
    published.clear()
    assert resume(db, issue_id=issue.id, now=T0) is True
    assert resume(db, issue_id=issue.id, now=T0) is False
    db.commit()
    assert len(published) == 2
    send_batch(
        sessions,
        issue_id=issue.id,
        batch=0,
        settings=send_settings,
        transport=SMTPTransport(send_settings.smtp_url),
        clock=lambda: T0,
    )
    assert cancel(db, issue_id=issue.id, now=T0) is True
    assert cancel(db, issue_id=issue.id, now=T0) is False
    db.commit()
    states = sorted(d.state for d in deliveries(db, issue.id).values())
    assert states == ["cancelled", "sent", "sent"]  # `skipped` stays for readers who left
    assert progress(db, issue.id)["done"] is True
    assert run_all(sessions, db, issue, send_settings)[-1].claimed == 0
    assert len(smtp_server.messages) == 2
    draft = make_issue(db, week="2026-W45")
    with pytest.raises(SendRefused):
        cancel(db, issue_id=draft.id, now=T0)


class PausingTransport(SMTPTransport):
    """The real SMTP transport; after `after` messages an editor pauses (or cancels) the issue
    elsewhere."""

    def __init__(self, url: str, *, sessions, issue_id: int, after: int, control=pause) -> None:
        super().__init__(url)
        self.sessions, self.issue_id, self.after, self.count = sessions, issue_id, after, 0
        self.control = control

    def send(self, **message) -> None:
        super().send(**message)
        self.count += 1
        if self.count == self.after:
            with self.sessions() as editor:
                self.control(editor, issue_id=self.issue_id, now=T0)
                editor.commit()


def test_pause_during_a_batch_stops_at_the_next_checkpoint(db, sessions, send_settings):
    send_settings.batch_size = 60
    issue = started(db, send_settings, readers=60)
    transport = PausingTransport(
        send_settings.smtp_url, sessions=sessions, issue_id=issue.id, after=10
    )
    result = send_batch(
        sessions,
        issue_id=issue.id,
        batch=0,
        settings=send_settings,
        transport=transport,
        clock=lambda: T0,
    )
    assert result.outcomes["sent"] == 50  # the first chunk finished; the second never started
    states = sorted(d.state for d in deliveries(db, issue.id).values())
    assert states.count("sent") == 50 and states.count("pending") == 10
    assert progress(db, issue.id)["status"] == "paused"


def test_sweeper_requeues_expired_leases_and_stalled_sends(
    db, sessions, send_settings, smtp_server, published
):
    issue = started(db, send_settings, readers=3)
    published.clear()
    assert sweep(db, now=T0, settings=send_settings)["queued"] == 0  # fresh: tasks are queued
    # A worker claims batch 0 and dies (its lease is never renewed).
    with sessions() as dead:
        Ledger(dead, issue_id=issue.id, batch=0).claim(
            now=T0, lease_until=T0 + timedelta(seconds=2)
        )
    assert {d.state for d in deliveries(db, issue.id).values()} == {"sending", "pending"}

    report = sweep(db, now=T0 + timedelta(seconds=1), settings=send_settings)
    assert report == {"released": 0, "queued": 0, "finished": 0}
    later = T0 + timedelta(seconds=3)
    report = sweep(db, now=later, settings=send_settings)
    db.commit()
    assert report["released"] == 2
    assert sorted(published) == [
        ("digest.send_batch", (issue.id, 0)),
        ("digest.send_batch", (issue.id, 1)),
    ]
    assert {d.state for d in deliveries(db, issue.id).values()} == {"pending"}
    run_all(sessions, db, issue, send_settings, at=later)
    assert progress(db, issue.id)["sent"] == 3
    assert progress(db, issue.id)["status"] == "sent"


def test_send_api_is_idempotent_and_refuses_what_cannot_be_sent(
    db, send_settings, client, admin_headers, published
):
    add_readers(db, 3)
    issue = make_issue(db)
    empty = make_issue(db, [], week="2026-W47")
    db.commit()
    first = client.post(f"/api/issues/{issue.id}/send", headers=admin_headers)
    assert first.status_code == 202
    body = first.json()
    assert (body["status"], body["total"], body["pending"], body["sent"]) == ("sending", 3, 3, 0)
    assert len(published) == 2
    again = client.post(f"/api/issues/{issue.id}/send", headers=admin_headers)
    assert again.status_code == 202 and again.json()["total"] == 3
    assert len(published) == 2  # nothing more queued

    assert client.post(f"/api/issues/{empty.id}/send", headers=admin_headers).status_code == 409
    assert client.post("/api/issues/999999/send", headers=admin_headers).status_code == 404
    assert client.post(f"/api/issues/{issue.id}/send").status_code == 401

    paused = client.post(f"/api/issues/{issue.id}/pause", headers=admin_headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert client.post(f"/api/issues/{issue.id}/send", headers=admin_headers).status_code == 409
    resumed = client.post(f"/api/issues/{issue.id}/resume", headers=admin_headers)
    assert resumed.json()["status"] == "sending"
    cancelled = client.post(f"/api/issues/{issue.id}/cancel", headers=admin_headers)
    body = cancelled.json()
    assert (body["status"], body["cancelled"], body["skipped"]) == ("cancelled", 3, 0)
    assert client.post(f"/api/issues/{issue.id}/resume", headers=admin_headers).status_code == 409
    issue_json = client.get(f"/api/issues/{issue.id}", headers=admin_headers).json()
    assert issue_json["counts"] == {
        "total": 3,
        "pending": 0,
        "sent": 0,
        "failed": 0,
        "bounced": 0,
        "unknown": 0,
        "skipped": 0,
        "cancelled": 3,
    }

    published.clear()
    rest = client.post(f"/api/issues/{issue.id}/send-remaining", headers=admin_headers)
    assert rest.status_code == 202
    assert (rest.json()["status"], rest.json()["pending"], rest.json()["cancelled"]) == (
        "sending",
        3,
        0,
    )
    assert len(published) == 2
    again = client.post(f"/api/issues/{issue.id}/send-remaining", headers=admin_headers)
    assert again.status_code == 202 and len(published) == 2  # nothing more queued
    refused = client.post(f"/api/issues/{empty.id}/send-remaining", headers=admin_headers)
    assert refused.status_code == 409 and "only a cancelled send" in refused.text
    missing = client.post("/api/issues/999999/send-remaining", headers=admin_headers)
    assert missing.status_code == 404


def test_a_cancel_mid_batch_leaves_the_rest_cancelled_and_progress_stops_there(
    db, sessions, send_settings
):
    send_settings.batch_size = 60
    issue = started(db, send_settings, readers=60)
    transport = PausingTransport(
        send_settings.smtp_url, sessions=sessions, issue_id=issue.id, after=10, control=cancel
    )
    result = send_batch(
        sessions,
        issue_id=issue.id,
        batch=0,
        settings=send_settings,
        transport=transport,
        clock=lambda: T0,
    )
    assert result.outcomes["sent"] == 50  # the chunk in flight finished, the next never went
    ledger = deliveries(db, issue.id)
    states = sorted(d.state for d in ledger.values())
    assert states.count("sent") == 50 and states.count("cancelled") == 10
    assert all(d.lease_until is None for d in ledger.values())
    shown = send_progress(db, issue_id=issue.id)
    assert (shown["done"], shown["not_sent"], shown["percent"]) == (50, 10, 83.3)
    assert shown["summary"] == "Cancelled after 50 of 60 — 10 not sent"
    assert shown["finished"] is True


def test_send_to_the_rest_mails_exactly_the_readers_the_cancel_stopped(
    db, sessions, send_settings, smtp_server, published
):
    issue = started(db, send_settings, readers=5)  # batches of 2: 0, 1, 2
    send_batch(
        sessions,
        issue_id=issue.id,
        batch=0,
        settings=send_settings,
        transport=SMTPTransport(send_settings.smtp_url),
        clock=lambda: T0,
    )
    assert cancel(db, issue_id=issue.id, now=T0) is True
    db.commit()
    assert [m.rcpt_tos for m in smtp_server.wait_for(2)] == [["r0@example.org"], ["r1@example.org"]]
    ledger = deliveries(db, issue.id)
    assert sorted(a for a, d in ledger.items() if d.state == "cancelled") == [
        "r2@example.org",
        "r3@example.org",
        "r4@example.org",
    ]
    # Meanwhile one of them leaves and a new reader confirms: neither gets this issue.
    leaver = db.scalar(select(Subscriber).where(Subscriber.email == "r3@example.org"))
    leaver.status = "unsubscribed"
    add_readers(db, 1, prefix="late")
    db.commit()

    published.clear()
    assert send_remaining(db, issue_id=issue.id, now=T0) is True
    assert send_remaining(db, issue_id=issue.id, now=T0) is False  # a second click: nothing more
    db.commit()
    assert sorted(published) == [
        ("digest.send_batch", (issue.id, 1)),
        ("digest.send_batch", (issue.id, 2)),
    ]
    run_all(sessions, db, issue, send_settings)
    run_all(sessions, db, issue, send_settings)  # duplicate tasks send nothing more
    mailed = [m.rcpt_tos[0] for m in smtp_server.wait_for(4)]
    assert sorted(mailed) == [
        "r0@example.org",
        "r1@example.org",
        "r2@example.org",
        "r4@example.org",
    ]
    ledger = deliveries(db, issue.id)
    assert {a: d.state for a, d in ledger.items()} == {
        "r0@example.org": "sent",
        "r1@example.org": "sent",
        "r2@example.org": "sent",
        "r3@example.org": "skipped",
        "r4@example.org": "sent",
    }
    shown = send_progress(db, issue_id=issue.id)
    assert (shown["status"], shown["done"], shown["not_sent"]) == ("sent", 5, 0)
    assert shown["summary"].startswith("Sent to 4 of 5 readers in ")
    with pytest.raises(SendRefused, match="only a cancelled send"):
        send_remaining(db, issue_id=make_issue(db, week="2026-W45").id, now=T0)


def test_send_to_the_rest_refuses_when_nobody_is_left(db, sessions, send_settings):
    issue = started(db, send_settings, readers=2)  # one batch of 2
    run_all(sessions, db, issue, send_settings)
    db.refresh(issue)
    issue.status = "cancelled"  # cancelled as the last message went: every row has its outcome
    db.commit()
    with pytest.raises(SendRefused, match="nobody left"):
        send_remaining(db, issue_id=issue.id, now=T0)
    db.rollback()
    assert {d.state for d in deliveries(db, issue.id).values()} == {"sent"}


def test_sweeper_settles_a_cancelled_sends_dead_leases_as_cancelled(
    db, sessions, send_settings, published
):
    issue = started(db, send_settings, readers=3)
    with sessions() as dead:  # a worker claims batch 0 and dies
        Ledger(dead, issue_id=issue.id, batch=0).claim(
            now=T0, lease_until=T0 + timedelta(seconds=2)
        )
    assert cancel(db, issue_id=issue.id, now=T0) is True
    db.commit()
    assert sorted(d.state for d in deliveries(db, issue.id).values()) == [
        "cancelled",
        "sending",
        "sending",
    ]
    published.clear()
    report = sweep(db, now=T0 + timedelta(seconds=3), settings=send_settings)
    db.commit()
    assert (report["released"], report["queued"], published) == (0, 0, [])
    assert {d.state for d in deliveries(db, issue.id).values()} == {"cancelled"}
    assert send_progress(db, issue_id=issue.id)["summary"] == "Cancelled after 0 of 3 — 3 not sent"
