"""Group commit for /subscribe: concurrent requests, duplicates, failing batches, batched mail."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade
from app.models import ConsentEvent, Subscriber
from app.readers.batcher import (
    RateGate,
    SubscribeBatcher,
    SubscribeFailed,
    store_subscriptions,
)
from app.readers.subscriptions import Requester, SubscriptionRequest, request_subscriptions
from tests.conftest import create_postgres_database, drop_postgres_database, needs_postgres


def _post_all(app, bodies: list[dict]) -> list[httpx.Response]:
    """POST every body to /subscribe at once, through the ASGI app on one event loop."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(*(client.post("/subscribe", json=b) for b in bodies))

    return asyncio.run(run())


def _confirmation_ids(published) -> list[int]:
    assert {name for name, _ in published} <= {"digest.send_confirmations"}
    return [subscriber_id for _, (ids,) in published for subscriber_id in ids]


def test_concurrent_subscribes_are_each_stored_once_in_few_transactions(app, db, published):
    addresses = [f"reader{i}@example.org" for i in range(40)]
    responses = _post_all(app, [{"email": address} for address in addresses])
    assert [(r.status_code, r.json()) for r in responses] == [
        (202, {"status": "check-your-inbox"})
    ] * 40
    stored = dict(db.execute(select(Subscriber.email, Subscriber.id)).all())
    assert sorted(stored) == sorted(addresses)
    events = db.execute(select(ConsentEvent.subscriber_id, ConsentEvent.kind)).all()
    assert Counter(events) == Counter((i, "subscribe-request") for i in stored.values())
    ids = _confirmation_ids(published)
    assert sorted(ids) == sorted(stored.values())  # every new reader once, nobody twice
    assert len(published) < 40  # grouped: fewer transactions and tasks than requests


def test_same_address_at_once_gives_one_reader_and_one_confirmation(app, db, published):
    bodies = [{"email": "Zed@Example.org"}, {"email": "zed@example.org"}] * 3
    responses = _post_all(app, bodies)
    assert {r.status_code for r in responses} == {202}
    assert db.scalar(select(func.count()).select_from(Subscriber)) == 1
    assert db.scalar(select(func.count()).select_from(ConsentEvent)) == 1
    assert len(_confirmation_ids(published)) == 1


def test_a_failing_batch_answers_503_and_stores_nothing(app, db, connection, published):
    # A real refusal half-way: the subscribers insert works, the consent insert cannot.
    connection.execute(text("ALTER TABLE consent_events RENAME TO consent_events_away"))
    try:
        responses = _post_all(app, [{"email": f"lost{i}@example.org"} for i in range(5)])
    finally:
        connection.execute(text("ALTER TABLE consent_events_away RENAME TO consent_events"))
    assert [r.status_code for r in responses] == [503] * 5
    assert all("try again" in r.json()["detail"].lower() for r in responses)
    assert db.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert published == []
    # The batcher recovers: the next request is stored as usual.
    again = _post_all(app, [{"email": "lost0@example.org"}])
    assert again[0].status_code == 202
    assert db.scalar(select(Subscriber.email)) == "lost0@example.org"


def test_bulk_rules_match_the_single_request_rules(db, published, frozen_clock):
    now = frozen_clock.now
    states = {
        "recent@example.org": ("pending", now - timedelta(minutes=3)),
        "stale@example.org": ("pending", now - timedelta(minutes=11)),
        "left@example.org": ("unsubscribed", now - timedelta(days=3)),
        "happy@example.org": ("confirmed", now - timedelta(days=3)),
        "bounced@example.org": ("bounced", now - timedelta(days=3)),
    }
    for email, (status, sent_at) in states.items():
        db.add(
            Subscriber(
                email=email,
                status=status,
                source="form",
                created_at=sent_at,
                updated_at=sent_at,
                confirmation_sent_at=sent_at,
                confirm_nonce=0,
            )
        )
    db.flush()
    who = Requester(ip="192.0.2.7", user_agent="test", channel="api")
    emails = [*states, "new@example.org", "new@example.org", "stale@example.org"]
    ids = request_subscriptions(
        db,
        requests=[SubscriptionRequest(email, "Name", who) for email in emails],
        now=now,
        consent_text_version="v-test",
        resend_after=timedelta(minutes=10),
    )
    db.commit()
    by_email = {s.email: s for s in db.scalars(select(Subscriber))}
    due = {"stale@example.org", "left@example.org", "new@example.org"}
    assert sorted(ids) == sorted(by_email[email].id for email in due)
    assert published == [("digest.send_confirmations", (ids,))]
    assert {email: s.status for email, s in by_email.items() if email in due} == dict.fromkeys(
        due, "pending"
    )
    assert all(by_email[email].confirmation_sent_at == now for email in due)
    events = db.execute(select(ConsentEvent.email, ConsentEvent.ip, ConsentEvent.channel)).all()
    assert sorted(events) == sorted((email, "192.0.2.7", "api") for email in due)


@needs_postgres
def test_concurrent_batches_on_postgres_give_one_reader_and_one_confirmation(published):
    # Two committed transactions at once, as two server processes make them.
    url = create_postgres_database("batch_race")
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = sessionmaker(bind=engine, expire_on_commit=False)
        settings = Settings(database_url=url)
        stale = clock.now() - timedelta(minutes=11)
        with sessions.begin() as session:
            session.add(
                Subscriber(
                    email="stale@example.org",
                    status="pending",
                    source="form",
                    created_at=stale,
                    updated_at=stale,
                    confirmation_sent_at=stale,
                    confirm_nonce=0,
                )
            )
        shared = ["b@example.org", "stale@example.org", "a@example.org"]
        who = Requester(channel="api")
        first = sessions()
        first.begin()
        request_subscriptions(
            first,
            requests=[SubscriptionRequest(e, None, who) for e in [*shared, "x@example.org"]],
            now=clock.now(),
            consent_text_version="v-test",
        )
        # The second batch (addresses in another order) must wait for the first's rows.
        second = threading.Thread(
            target=store_subscriptions,
            args=(sessions, settings, [SubscriptionRequest(e, None, who) for e in shared[::-1]]),
        )
        second.start()
        second.join(0.5)
        assert second.is_alive()  # blocked on the first transaction, not racing past it
        first.commit()
        first.close()
        second.join(10)
        assert not second.is_alive()
        with sessions() as session:
            emails = sorted(session.scalars(select(Subscriber.email)))
            events = Counter(session.scalars(select(ConsentEvent.email)))
        assert emails == ["a@example.org", "b@example.org", "stale@example.org", "x@example.org"]
        assert events == Counter(emails)  # one request record each: the second batch sent none
        ids = _confirmation_ids(published)
        assert len(ids) == len(set(ids)) == 4
        engine.dispose()
    finally:
        drop_postgres_database(url)


# --- the batcher on its own: grouping without linger ---


def _request(number: int) -> SubscriptionRequest:
    return SubscriptionRequest(f"r{number}@example.org", None, Requester())


def test_a_lone_request_is_stored_at_once_and_later_ones_are_grouped():
    batches: list[list[str]] = []
    release = threading.Event()

    def store(requests) -> None:
        batches.append([r.email for r in requests])
        if len(batches) == 1:
            release.wait(5)  # hold the first transaction open while others arrive

    async def run() -> None:
        batcher = SubscribeBatcher(store, max_batch=3)
        first = asyncio.create_task(batcher.submit(_request(0)))
        while not batches:
            await asyncio.sleep(0.001)
        later = [asyncio.create_task(batcher.submit(_request(n))) for n in range(1, 6)]
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, *later)

    asyncio.run(run())
    assert batches == [
        ["r0@example.org"],
        ["r1@example.org", "r2@example.org", "r3@example.org"],
        ["r4@example.org", "r5@example.org"],
    ]


def test_a_failed_store_fails_exactly_its_own_requests():
    def store(requests) -> None:
        if any(r.email == "r1@example.org" for r in requests):
            raise RuntimeError("database went away")

    async def run() -> list[object]:
        batcher = SubscribeBatcher(store, max_batch=1)
        return await asyncio.gather(
            *(batcher.submit(_request(n)) for n in range(3)), return_exceptions=True
        )

    outcomes = asyncio.run(run())
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], SubscribeFailed) and "went away" in str(outcomes[1])


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        SubscribeBatcher(lambda requests: None, max_batch=0)


# --- digest.send_confirmations: one connection, per-reader outcomes ---


def test_send_confirmations_task_sends_each_and_keeps_going_past_failures(
    tmp_path, monkeypatch, smtp_server
):
    import app.config
    from workers import tasks

    url = f"sqlite:///{tmp_path / 'task.db'}"  # committed work: its own database
    upgrade(url)
    settings = Settings(
        var_dir=tmp_path, database_url=url, smtp_url=smtp_server.url(), retry_delays=[1, 1]
    )
    monkeypatch.setattr(app.config, "get_settings", lambda: settings)
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    engine = make_engine(url)
    emails = ["a@example.org", "gone@example.org", "busy@example.org", "d@example.org"]
    with Session(engine) as session:
        ids = request_subscriptions(
            session,
            requests=[SubscriptionRequest(e, None, Requester()) for e in emails],
            now=clock.now(),
            consent_text_version="v-test",
        )
        session.commit()
    smtp_server.faults.reject("gone@example.org", "550 5.1.1 User unknown")
    smtp_server.faults.reject("busy@example.org", "451 4.2.1 Try later", times=1)
    result = tasks.send_confirmations_task.apply(args=[ids])
    # The eager retry carried only the deferred reader; it went through the second time.
    assert result.get() == {"sent": 1}
    received = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert received == ["a@example.org", "busy@example.org", "d@example.org"]
    assert smtp_server.session_count == 2  # one connection per run, not one per reader
    with Session(engine) as session:
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
    assert statuses["gone@example.org"] == "bounced"
    engine.dispose()


# --- the rate gate: hits of one client that arrive together, one limiter call ---


class _CountingLimiter(MovingWindowRateLimiter):
    """The real moving-window limiter (in memory) that also records each call's cost."""

    def __init__(self) -> None:
        super().__init__(MemoryStorage())
        self.costs: list[int] = []

    async def hit(self, item, *identifiers: str, cost: int = 1) -> bool:
        self.costs.append(cost)
        return await super().hit(item, *identifiers, cost=cost)


def test_rate_gate_answers_like_single_hits_in_one_call_when_there_is_room():
    limiter = _CountingLimiter()
    three = parse("3/minute")

    async def run() -> tuple[list[bool], list[bool]]:
        gate = RateGate(limiter)
        key = ("subscribe", "192.0.2.1")
        first = await asyncio.gather(*(gate.hit(three, *key) for _ in range(2)))
        second = await asyncio.gather(*(gate.hit(three, *key) for _ in range(3)))
        return first, second

    first, second = asyncio.run(run())
    assert first == [True, True]  # room for both: one call of cost 2
    assert second == [True, False, False]  # one place left: the first of the group takes it
    assert limiter.costs == [2, 3, 1, 1, 1]


def test_rate_gate_counts_each_client_apart():
    limiter = _CountingLimiter()
    one = parse("1/minute")

    async def run() -> list[bool]:
        gate = RateGate(limiter)
        ips = ["192.0.2.1", "192.0.2.2", "192.0.2.1"]
        return await asyncio.gather(*(gate.hit(one, "subscribe", ip) for ip in ips))

    assert asyncio.run(run()) == [True, True, False]


def test_rate_gate_passes_a_storage_failure_to_every_request_of_the_group():
    class Down(MovingWindowRateLimiter):
        async def hit(self, item, *identifiers: str, cost: int = 1) -> bool:
            raise ConnectionError("redis is down")

    async def run() -> list[object]:
        gate = RateGate(Down(MemoryStorage()))
        item = parse("5/minute")
        return await asyncio.gather(
            *(gate.hit(item, "subscribe", "192.0.2.1") for _ in range(3)), return_exceptions=True
        )

    outcomes = asyncio.run(run())
    assert all(isinstance(o, ConnectionError) and "down" in str(o) for o in outcomes)
