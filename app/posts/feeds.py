"""Feeds polled for posts: add, poll (fetch outside any transaction, then store), record failures.

Decisions:
- `error_count` counts consecutive failed polls; a successful poll (or a 304) resets it to 0.
- Fetching (public addresses only, bounded, conditional) lives in `app.posts.fetching`, parsing
  feed bytes into posts in `app.posts.parsing`.
- A feed is refused when added (422) if its host resolves to a non-public address; a name that
  does not resolve yet is let in, since every poll is checked again where it connects.
- A failed poll records `last_status` (`http-404`, `timeout`, `too-large`, `malformed`,
  `not-a-feed`, `network-error`, `not-public`, `error`) and a readable `last_error`; it never
  raises.
- The worker polls with `poll_feed_by_id`: no transaction is open while a host answers, because
  in embedded mode a transaction holds SQLite's write lock and every route would wait for it.
- `ingest(URL)` reads a feed once without storing it as a Feed (to poll it regularly, add it
  with `POST /api/feeds`); a URL that is already a Feed is polled as that Feed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app import jobs
from app.config import Settings
from app.db import enqueue, session_factory, session_scope
from app.errors import Conflict, Invalid, NotFound
from app.models import Feed, Post
from app.posts.fetching import AddressRefused, Fetched, check_host, fetch_feed, make_client
from app.posts.parsing import FeedError, ParsedFeed, parse_feed
from app.posts.schemas import FeedOut, check_http_url
from app.posts.store import read_posts_file, upsert_feed_posts, upsert_posts

log = logging.getLogger(__name__)
FEED_SUFFIXES_HINT = ".json (a list of posts) or an RSS/Atom file"


class IngestError(Invalid):
    """`ingest` could not read its source; the message says why (the CLI prints it)."""


# ---- feeds as the admin manages them ------------------------------------------------------------


class FeedNotFound(NotFound):
    """No feed with that id."""


class FeedExists(Conflict):
    """A feed with this URL is already polled; the answer carries that feed."""

    def __init__(self, feed: Feed) -> None:
        super().__init__(f"already polling {feed.url} (feed {feed.id})")
        self.feed = feed
        # Taken now: the request's transaction is rolled back before the error is answered.
        self.existing = FeedOut.model_validate(feed)

    def answer(self) -> dict[str, Any]:
        return {**super().answer(), "feed": self.existing.model_dump(mode="json")}


class FeedAddressRefused(Invalid):
    """The feed's host resolves to a loopback, private, link-local or reserved address."""


def add_feed(
    session: Session,
    *,
    url: str,
    topics: list[str],
    title: str | None,
    now: datetime,
    allow_private: bool = False,
) -> Feed:
    """Add a feed to poll (and queue its first poll); FeedExists if its URL is already there,
    FeedAddressRefused if it points at a non-public address and `allow_private` is off."""
    url = check_http_url(url)
    host, port = _host_and_port(url)
    if not allow_private:  # before this function's first query: no transaction held during DNS
        _refuse_non_public(host, port)
    existing = session.scalar(select(Feed).where(Feed.url == url))
    if existing is not None:
        raise FeedExists(existing)
    feed = Feed(url=url, title=title, topics=topics, error_count=0, created_at=now)
    session.add(feed)
    session.flush()
    enqueue(session, jobs.POLL_FEED, feed.id)
    return feed


def _host_and_port(url: str) -> tuple[str, int]:
    """The host and port a poll of `url` connects to; Invalid if httpx cannot use it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise Invalid(f"is not a usable URL: {error}") from error
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise Invalid(f"has port {port}, outside 1-65535")
    return parsed.raw_host.decode("ascii"), port


def _refuse_non_public(host: str, port: int) -> None:
    """FeedAddressRefused if `host` resolves to a non-public address.

    A name that does not resolve now is let through: the poll checks again where it connects.
    """
    try:
        check_host(host, port)
    except AddressRefused as error:
        raise FeedAddressRefused(f"refused: {error}") from error
    except UnicodeError as error:  # e.g. a label over 63 characters
        raise Invalid(f"has a host name DNS cannot look up ({error})") from error
    except OSError:  # no such name (yet)
        return


def list_feeds(session: Session) -> list[Feed]:
    """Every feed, oldest first."""
    return list(session.scalars(select(Feed).order_by(Feed.id)))


def new_posts_of_last_poll(session: Session) -> dict[int, int]:
    """Posts each feed's latest poll stored for the first time, by feed id (feeds with none
    are missing). A poll stamps its new posts' `created_at` with its own `last_fetched_at`."""
    query = (
        select(Feed.id, func.count(Post.id))
        .join(Post, (Post.feed_id == Feed.id) & (Post.created_at == Feed.last_fetched_at))
        .group_by(Feed.id)
    )
    return {feed_id: number for feed_id, number in session.execute(query)}


def _feed(session: Session, feed_id: int) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None:
        raise FeedNotFound(f"no feed {feed_id}")
    return feed


def queue_poll(session: Session, *, feed_id: int) -> None:
    """Queue a poll of one feed now (published after commit); FeedNotFound if there is none."""
    enqueue(session, jobs.POLL_FEED, _feed(session, feed_id).id)


def remove_feed(session: Session, *, feed_id: int) -> None:
    """Stop polling a feed; the posts it brought in stay (no longer tied to it)."""
    feed = _feed(session, feed_id)
    session.execute(update(Post).where(Post.feed_id == feed_id).values(feed_id=None))
    session.delete(feed)


def enqueue_feed_polls(session: Session) -> int:
    """Queue one `digest.poll_feed` per feed (published after commit); returns how many."""
    ids = list(session.scalars(select(Feed.id).order_by(Feed.id)))
    for feed_id in ids:
        enqueue(session, jobs.POLL_FEED, feed_id)
    return len(ids)


# ---- polling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollRequest:
    """What a poll needs from its feed, copied out so the fetch runs with no transaction open."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    topics: tuple[str, ...] = ()

    @classmethod
    def of(cls, feed: Feed) -> PollRequest:
        return cls(feed.url, feed.etag, feed.last_modified, feed.title, tuple(feed.topics or ()))


@dataclass(frozen=True)
class PollOutcome:
    """The network-and-parsing half of a poll: a status, and the feed or what went wrong."""

    status: str
    fetched: Fetched | None = None
    parsed: ParsedFeed | None = None
    error: str | None = None


def fetch_and_parse(
    request: PollRequest, *, settings: Settings, client: httpx.Client | None = None
) -> PollOutcome:
    """Fetch and parse one feed, touching no database; failures come back as an outcome."""
    try:
        with _client(settings, client) as http:
            fetched = fetch_feed(
                http,
                request.url,
                etag=request.etag,
                last_modified=request.last_modified,
                max_bytes=settings.feed_max_bytes,
                timeout=settings.feed_timeout,
            )
        return _parse(request, fetched)
    except FeedError as error:
        return PollOutcome(error.status, error=str(error))
    except Exception as error:  # noqa: BLE001 - one broken feed must never stop the others
        log.exception("fetching feed %s failed", request.url)
        return PollOutcome("error", error=f"{type(error).__name__}: {error}")


def _parse(request: PollRequest, fetched: Fetched) -> PollOutcome:
    """A fetched feed as posts (with the feed's title and topics); FeedError if it is none."""
    if fetched.body is None:
        return PollOutcome("not-modified", fetched)
    parsed = parse_feed(
        fetched.body,
        url=fetched.url,
        source=request.title,
        topics=list(request.topics),
        content_type=fetched.content_type,
    )
    return PollOutcome("ok", fetched, parsed)


@contextmanager
def _client(settings: Settings, client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with make_client(settings) as own:
        yield own


def record_poll(
    session: Session, feed: Feed, outcome: PollOutcome, *, now: datetime
) -> dict[str, Any]:
    """Store a poll's posts and outcome on its feed; failures are recorded, never raised."""
    result: dict[str, Any] = {"feed_id": feed.id, "created": 0, "updated": 0, "unchanged": 0}
    if outcome.error is not None:
        return _record_failure(feed, result, outcome.status, outcome.error, now)
    if outcome.parsed is not None and outcome.fetched is not None:
        try:
            with session.begin_nested():  # a database error rolls back this feed's posts only
                counts = upsert_feed_posts(session, outcome.parsed.posts, now=now, feed_id=feed.id)
        except Exception as error:  # noqa: BLE001 - recorded on the feed like any failure
            log.exception("storing the posts of feed %s failed", feed.url)
            return _record_failure(feed, result, "error", f"{type(error).__name__}: {error}", now)
        result.update(counts, skipped=outcome.parsed.skipped)
        feed.title = feed.title or outcome.parsed.title
        feed.etag, feed.last_modified = outcome.fetched.etag, outcome.fetched.last_modified
    feed.last_fetched_at, feed.last_status, feed.last_error = now, outcome.status, None
    feed.error_count = 0
    return {**result, "status": outcome.status}


def _record_failure(
    feed: Feed, result: dict[str, Any], status: str, message: str, now: datetime
) -> dict[str, Any]:
    feed.last_fetched_at = now
    feed.last_status = status
    feed.last_error = message[:2000]
    feed.error_count = (feed.error_count or 0) + 1
    return {**result, "status": status, "error": feed.last_error}


def poll_feed_by_id(
    feed_id: int,
    *,
    settings: Settings,
    now: datetime,
    sessions: sessionmaker[Session] | None = None,
    client: httpx.Client | None = None,
) -> dict[str, Any] | None:
    """The worker's poll: read the feed, fetch with no transaction open, then store; None if the
    feed is gone.

    Its own units of work, unlike the services: in embedded mode a transaction holds SQLite's
    write lock, and a feed host that stalls must not stall every route of the site with it.
    """
    sessions = sessions or session_factory(settings.sqlalchemy_url)
    with session_scope(sessions=sessions) as session:
        feed = session.get(Feed, feed_id)
        request = None if feed is None else PollRequest.of(feed)
    if request is None:
        return None  # removed since it was queued
    outcome = fetch_and_parse(request, settings=settings, client=client)
    with session_scope(sessions=sessions) as session:
        feed = session.get(Feed, feed_id)
        if feed is None or feed.url != request.url:
            return None  # removed (or replaced) while it was being fetched
        return record_poll(session, feed, outcome, now=now)


def poll_feed(
    session: Session,
    feed: Feed,
    *,
    settings: Settings,
    now: datetime,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Fetch, parse and store one feed in the caller's transaction (held during the fetch:
    workers use `poll_feed_by_id`); failures are recorded on the feed, never raised."""
    outcome = fetch_and_parse(PollRequest.of(feed), settings=settings, client=client)
    return record_poll(session, feed, outcome, now=now)


def poll_all(
    session: Session, *, settings: Settings, now: datetime, client: httpx.Client | None = None
) -> list[dict[str, Any]]:
    """Poll every feed in turn with one HTTP client; each feed's outcome, failures included."""
    feeds = list(session.scalars(select(Feed).order_by(Feed.id)))
    with _client(settings, client) as http:
        return [poll_feed(session, feed, settings=settings, now=now, client=http) for feed in feeds]


# ---- one-off ingest (the `digest ingest URL-or-FILE` command) -----------------------------------


def ingest(source: str, *, session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Read posts from a feed URL, a `.json` file of posts, or an RSS/Atom file; return counts."""
    if source.lower().startswith(("http://", "https://")):
        return _ingest_url(source, session=session, settings=settings, now=now)
    path = Path(source)
    if not path.is_file():
        raise IngestError(f"no such file: {source} (give a feed URL, {FEED_SUFFIXES_HINT})")
    if path.suffix.lower() == ".json":
        try:
            posts = read_posts_file(path)
        except ValueError as error:
            raise IngestError(str(error)) from error
        return {"source": source, "kind": "json", **upsert_posts(session, posts, now=now)}
    if path.stat().st_size > settings.feed_max_bytes:
        raise IngestError(f"{source} is larger than {settings.feed_max_bytes:,} bytes")
    try:
        parsed = parse_feed(path.read_bytes(), url=None, source=None, topics=[])
    except FeedError as error:
        raise IngestError(f"{source}: {error} (expected {FEED_SUFFIXES_HINT})") from error
    counts = upsert_feed_posts(session, parsed.posts, now=now, feed_id=None)
    return {"source": source, "kind": "feed", **counts, "skipped": parsed.skipped}


def _ingest_url(source: str, *, session: Session, settings: Settings, now: datetime) -> dict:
    try:
        url = check_http_url(source)
    except ValueError as error:
        raise IngestError(f"{source[:200]}: {error}") from error
    # Fetched before the session's first query, so no transaction (SQLite's write lock) is open
    # while a slow host answers; unconditional, since a one-off read wants the content.
    try:
        with make_client(settings) as client:
            fetched = fetch_feed(
                client,
                url,
                etag=None,
                last_modified=None,
                max_bytes=settings.feed_max_bytes,
                timeout=settings.feed_timeout,
            )
    except FeedError as error:
        raise IngestError(f"{url}: {error}") from error
    feed = session.scalar(select(Feed).where(Feed.url == url))
    request = PollRequest.of(feed) if feed is not None else PollRequest(url)
    try:
        outcome = _parse(request, fetched)
    except FeedError as error:
        raise IngestError(f"{url}: {error}") from error
    if feed is not None:  # a URL that is a Feed is read as that Feed
        return {"source": url, "kind": "feed", **record_poll(session, feed, outcome, now=now)}
    assert outcome.parsed is not None  # an unconditional GET never answers "not modified"
    counts = upsert_feed_posts(session, outcome.parsed.posts, now=now, feed_id=None)
    return {"source": url, "kind": "feed", **counts, "skipped": outcome.parsed.skipped}
