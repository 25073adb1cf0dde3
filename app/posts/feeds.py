"""Feeds polled for posts: add, fetch (bounded, conditional), parse RSS/Atom, record failures.

Decisions:
- `error_count` counts consecutive failed polls; a successful poll (or a 304) resets it to 0.
- Parsing feed bytes into posts lives in `app.posts.parsing`.
- A failed poll records `last_status` (`http-404`, `timeout`, `too-large`, `malformed`,
  `not-a-feed`, `network-error`, `error`) and a readable `last_error`; it never raises.
- `ingest(URL)` reads a feed once without storing it as a Feed (to poll it regularly, add it
  with `POST /api/feeds`); a URL that is already a Feed is polled as that Feed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import jobs
from app.config import Settings
from app.db import enqueue
from app.errors import Conflict, Invalid, NotFound
from app.models import Feed, Post
from app.posts.parsing import FeedError, parse_feed
from app.posts.schemas import FeedOut, check_http_url
from app.posts.store import read_posts_file, upsert_feed_posts, upsert_posts

log = logging.getLogger(__name__)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
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


def add_feed(
    session: Session, *, url: str, topics: list[str], title: str | None, now: datetime
) -> Feed:
    """Add a feed to poll (and queue its first poll); FeedExists if its URL is already there."""
    url = check_http_url(url)
    existing = session.scalar(select(Feed).where(Feed.url == url))
    if existing is not None:
        raise FeedExists(existing)
    feed = Feed(url=url, title=title, topics=topics, error_count=0, created_at=now)
    session.add(feed)
    session.flush()
    enqueue(session, jobs.POLL_FEED, feed.id)
    return feed


def list_feeds(session: Session) -> list[Feed]:
    """Every feed, oldest first."""
    return list(session.scalars(select(Feed).order_by(Feed.id)))


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


# ---- fetching -----------------------------------------------------------------------------------


@dataclass
class Fetched:
    """A feed response: 304 (`body` None) or a body with its cache validators."""

    url: str
    body: bytes | None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


def make_client(settings: Settings) -> httpx.Client:
    """An HTTP client for feeds: the configured timeout, redirects followed, a clear User-Agent."""
    return httpx.Client(
        timeout=settings.feed_timeout,
        follow_redirects=True,
        max_redirects=5,
        headers={
            "User-Agent": f"weekly-digest/0.1 (+{settings.public_base_url})",
            "Accept": ACCEPT,
        },
    )


def fetch_feed(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    timeout: float,
) -> Fetched:
    """GET a feed conditionally, reading at most `max_bytes` within ~`timeout` seconds in all."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    # httpx's timeout bounds each read; a server trickling bytes needs an overall deadline too.
    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(str(response.url), None, etag=etag, last_modified=last_modified)
            if response.status_code >= 400:
                raise FeedError(
                    f"http-{response.status_code}",
                    f"HTTP {response.status_code} {response.reason_phrase} from {response.url}",
                )
            body = _read_bounded(response, max_bytes, deadline, timeout)
            return Fetched(
                str(response.url),
                body,
                response.headers.get("content-type", ""),
                response.headers.get("etag"),
                response.headers.get("last-modified"),
            )
    except httpx.TimeoutException as error:
        raise FeedError(
            "timeout", f"no answer within {timeout:g} s ({type(error).__name__})"
        ) from error
    except httpx.HTTPError as error:
        raise FeedError("network-error", f"{type(error).__name__}: {error}") from error


def _read_bounded(
    response: httpx.Response, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    too_large = FeedError("too-large", f"the feed is larger than {max_bytes:,} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    # iter_bytes decompresses, so the cap also stops a small gzip that expands hugely.
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
        if time.monotonic() > deadline:
            raise FeedError("timeout", f"the feed took longer than {timeout:g} s to download")
    return bytes(body)


# ---- parsing ------------------------------------------------------------------------------------
# ---- polling ------------------------------------------------------------------------------------


def poll_feed(
    session: Session,
    feed: Feed,
    *,
    settings: Settings,
    now: datetime,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Fetch, parse and upsert one feed; failures are recorded on the feed, never raised."""
    result: dict[str, Any] = {"feed_id": feed.id, "created": 0, "updated": 0, "unchanged": 0}
    own_client = client is None
    client = client or make_client(settings)
    try:
        fetched = fetch_feed(
            client,
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            max_bytes=settings.feed_max_bytes,
            timeout=settings.feed_timeout,
        )
        if fetched.body is None:
            status = "not-modified"
        else:
            parsed = parse_feed(
                fetched.body,
                url=fetched.url,
                source=feed.title,
                topics=list(feed.topics or []),
                content_type=fetched.content_type,
            )
            with session.begin_nested():  # a database error rolls back this feed's posts only
                result.update(upsert_feed_posts(session, parsed.posts, now=now, feed_id=feed.id))
            result["skipped"] = parsed.skipped
            feed.title = feed.title or parsed.title
            feed.etag, feed.last_modified = fetched.etag, fetched.last_modified
            status = "ok"
    except FeedError as error:
        return _record_failure(feed, result, error.status, str(error), now)
    except Exception as error:  # noqa: BLE001 - one broken feed must never stop the others
        log.exception("polling feed %s failed", feed.url)
        return _record_failure(feed, result, "error", f"{type(error).__name__}: {error}", now)
    finally:
        if own_client:
            client.close()
    feed.last_fetched_at, feed.last_status, feed.last_error, feed.error_count = now, status, None, 0
    return {**result, "status": status}


def _record_failure(
    feed: Feed, result: dict[str, Any], status: str, message: str, now: datetime
) -> dict[str, Any]:
    feed.last_fetched_at = now
    feed.last_status = status
    feed.last_error = message[:2000]
    feed.error_count = (feed.error_count or 0) + 1
    return {**result, "status": status, "error": feed.last_error}


def poll_all(
    session: Session, *, settings: Settings, now: datetime, client: httpx.Client | None = None
) -> list[dict[str, Any]]:
    """Poll every feed in turn with one HTTP client; each feed's outcome, failures included."""
    feeds = list(session.scalars(select(Feed).order_by(Feed.id)))
    own_client = client is None
    client = client or make_client(settings)
    try:
        return [
            poll_feed(session, feed, settings=settings, now=now, client=client) for feed in feeds
        ]
    finally:
        if own_client:
            client.close()


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
    feed = session.scalar(select(Feed).where(Feed.url == url))
    if feed is not None:
        result = poll_feed(session, feed, settings=settings, now=now)
        if "error" in result:
            raise IngestError(f"{url}: {result['error']}")
        return {"source": url, "kind": "feed", **result}
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
        parsed = parse_feed(
            fetched.body or b"",
            url=fetched.url,
            source=None,
            topics=[],
            content_type=fetched.content_type,
        )
    except FeedError as error:
        raise IngestError(f"{url}: {error}") from error
    counts = upsert_feed_posts(session, parsed.posts, now=now, feed_id=None)
    return {"source": url, "kind": "feed", **counts, "skipped": parsed.skipped}
