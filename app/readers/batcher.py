"""Group commit for /subscribe: the requests waiting at one moment share one transaction.

And their rate-limit hits: those of one client that arrive together share one Redis call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from limits import RateLimitItem
from limits.aio.strategies import RateLimiter
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.config import Settings
from app.readers.subscriptions import SubscriptionRequest, request_subscriptions

log = logging.getLogger(__name__)

# Enough to absorb any burst one process can accept, small enough that one transaction stays short.
MAX_BATCH = 200

# Stores one batch in one transaction; raises when nothing of it was stored.
Store = Callable[[Sequence[SubscriptionRequest]], object]


class SubscribeFailed(Exception):
    """The batch holding this request was not stored (its transaction rolled back)."""


def store_subscriptions(
    sessions: sessionmaker[Session], settings: Settings, requests: Sequence[SubscriptionRequest]
) -> list[int]:
    """Apply a batch of subscribe requests in one transaction; its confirmations go after commit."""
    with sessions.begin() as session:
        return request_subscriptions(
            session,
            requests=requests,
            now=clock.now(),
            consent_text_version=settings.consent_text_version,
            resend_after=timedelta(seconds=settings.confirm_resend_seconds),
        )


@dataclass
class _Waiting:
    request: SubscriptionRequest
    stored: asyncio.Future[None]


class SubscribeBatcher:
    """Hands every request waiting right now to `store` together, one batch at a time.

    There is no linger: a request that finds the store idle is stored at once, alone. Requests
    that arrive while a batch is being written queue up and go together in the next one, so the
    batch grows with the load and a lone request waits for nobody.
    """

    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._store = store
        self._max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Waiting] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, request: SubscriptionRequest) -> None:
        """Return once `request` is committed; `SubscribeFailed` if its batch was not stored."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Futures and tasks belong to one event loop; a new loop (tests) starts afresh.
            self._loop, self._waiting, self._drainer = loop, [], None
        waiting = _Waiting(request, loop.create_future())
        self._waiting.append(waiting)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        await waiting.stored

    async def _drain(self) -> None:
        """Store batches until nobody waits; one transaction in flight, so batches never race."""
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._store_batch(batch)
        finally:
            if self._drainer is asyncio.current_task():
                self._drainer = None
            # Only when cancelled (shutdown) is anyone left waiting: answer them, never hang.
            left, self._waiting = self._waiting, []
            _settle(left, "the server is shutting down")

    async def _store_batch(self, batch: list[_Waiting]) -> None:
        try:
            await asyncio.to_thread(self._store, [waiting.request for waiting in batch])
        except BaseException as error:
            log.exception("storing %d subscribe request(s) failed", len(batch))
            _settle(batch, f"{type(error).__name__}: {error}")
            if not isinstance(error, Exception):
                raise
            return
        _settle(batch, None)


def _settle(batch: list[_Waiting], failure: str | None) -> None:
    """Answer every request of a batch; one whose client went away has nobody to answer."""
    for waiting in batch:
        if waiting.stored.done():
            continue
        if failure is None:
            waiting.stored.set_result(None)
        else:  # an exception each: one instance raised in many tasks would pile up tracebacks
            waiting.stored.set_exception(SubscribeFailed(failure))


class RateGate:
    """Counts the hits of one key that arrive in the same event-loop turn as one hit of cost n.

    Under load a Redis round trip per request costs more CPU than the rest of the rate check.
    The answers are those of n hits made one after another: a moving window admits a hit of
    cost n exactly when it admits n single hits; when it refuses, the n are retried one by one,
    so the first ones still take the room that is left.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self._open: dict[tuple[RateLimitItem, tuple[str, ...]], list[asyncio.Future[bool]]] = {}
        self._counting: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def hit(self, item: RateLimitItem, *key: str) -> bool:
        """Count one hit of `key` against `item`; False when it is over the limit."""
        loop = asyncio.get_running_loop()
        hit: asyncio.Future[bool] = loop.create_future()
        group = self._open.get((item, key))
        if group is None:
            # The group closes when this task first runs: after the requests read in this turn.
            self._open[(item, key)] = group = []
            task = loop.create_task(self._count(item, key))
            self._counting.add(task)
            task.add_done_callback(self._counting.discard)
        group.append(hit)
        return await hit

    async def _count(self, item: RateLimitItem, key: tuple[str, ...]) -> None:
        group = self._open.pop((item, key))
        try:
            if await self._limiter.hit(item, *key, cost=len(group)):
                results = [True] * len(group)
            else:
                results = [await self._limiter.hit(item, *key) for _ in group]
        except Exception as error:  # Redis unreachable: every request of the group sees why
            for hit in group:
                if not hit.done():
                    hit.set_exception(error)
            return
        for hit, allowed in zip(group, results, strict=True):
            if not hit.done():  # a request whose client left has nobody to answer
                hit.set_result(allowed)
