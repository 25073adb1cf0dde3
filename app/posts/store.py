"""Posts in: validate SPEC §7 Post JSON, upsert by URL (metrics replace), list a week's posts.

Decisions:
- `source` is optional; missing or blank, it becomes the URL's host without a leading `www.`.
- Text is stored verbatim (HTML in a title or summary stays text and is escaped when shown);
  a title's runs of whitespace, newlines included, collapse to one space.
- A batch is all-or-nothing: any invalid post, or a URL twice, refuses the whole batch.
- Posts from feeds carry no metrics: they are created with zeros and a feed never resets the
  counters, nor rewrites a post that the JSON API or another feed brought in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.models import Post
from app.posts.schemas import Metrics, PostIn, PostOut, PostPage, UpsertCounts
from app.weeks import week_window

MAX_POSTS_PER_BATCH = 10_000
# Bound the IN (...) list: SQLite and drivers have parameter limits, and big lists plan badly.
LOOKUP_CHUNK = 500
CONTENT_FIELDS = (
    "title",
    "summary",
    "image_url",
    "author",
    "source",
    "topics",
    "published_at",
    "read_minutes",
)
METRIC_FIELDS = ("views", "likes", "shares", "comments")


class InvalidPosts(Invalid):
    """A batch refused whole; `errors` names each bad item by index."""

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def answer(self) -> dict[str, Any]:
        return {"detail": self.detail, "errors": self.errors}

    def __str__(self) -> str:
        lines = [self.detail]
        for error in self.errors[:20]:
            lines.append(
                f"  post #{error['index']} ({error['url']}): {'; '.join(error['problems'])}"
            )
        if len(self.errors) > 20:
            lines.append(f"  … and {len(self.errors) - 20} more")
        return "\n".join(lines)


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return problems


def validate_posts(data: Any) -> list[PostIn]:
    """Validate a JSON list of posts (or `{"posts": [...]}`); InvalidPosts refuses it whole."""
    if isinstance(data, dict) and "posts" in data:
        data = data["posts"]
    if not isinstance(data, list):
        raise InvalidPosts('expected a JSON list of posts, or {"posts": [...]}')
    if len(data) > MAX_POSTS_PER_BATCH:
        raise InvalidPosts(f"at most {MAX_POSTS_PER_BATCH} posts per request, got {len(data)}")
    posts: dict[int, PostIn] = {}
    problems: dict[int, list[str]] = {}
    for index, item in enumerate(data):
        try:
            posts[index] = PostIn.model_validate(item)
        except ValidationError as error:
            problems[index] = _problems(error)
    first_index: dict[str, int] = {}
    for index, post in posts.items():
        first = first_index.setdefault(post.url, index)
        if first != index:
            problems.setdefault(first, []).append(f"url: duplicate, also at index {index}")
            problems.setdefault(index, []).append(f"url: duplicate of index {first}")
    if problems:
        errors = [
            {"index": i, "url": _raw_url(data[i]), "problems": problems[i]}
            for i in sorted(problems)
        ]
        noun = "post is" if len(errors) == 1 else "posts are"
        raise InvalidPosts(f"{len(errors)} {noun} invalid; nothing was stored", errors)
    return [posts[i] for i in range(len(data))]


def _raw_url(item: Any) -> str | None:
    url = item.get("url") if isinstance(item, dict) else None
    return url[:300] if isinstance(url, str) else None


def _row(post: PostIn, *, with_metrics: bool) -> dict[str, Any]:
    row = post.model_dump(include=set(CONTENT_FIELDS) | {"url"})
    metrics = post.metrics if with_metrics else Metrics()
    row.update(metrics.model_dump())
    return row


def _existing(session: Session, urls: Sequence[str]) -> dict[str, Post]:
    found: dict[str, Post] = {}
    for start in range(0, len(urls), LOOKUP_CHUNK):
        chunk = urls[start : start + LOOKUP_CHUNK]
        found.update(
            (post.url, post) for post in session.scalars(select(Post).where(Post.url.in_(chunk)))
        )
    return found


def _apply(post: Post, row: dict[str, Any], fields: Iterable[str]) -> bool:
    changed = False
    for name in fields:
        if getattr(post, name) != row[name]:
            setattr(post, name, row[name])
            changed = True
    return changed


def _upsert_once(
    session: Session,
    items: Sequence[PostIn],
    *,
    now: datetime,
    feed_id: int | None,
    from_feed: bool,
) -> UpsertCounts:
    rows = {item.url: _row(item, with_metrics=not from_feed) for item in items}  # last one wins
    existing = _existing(session, list(rows))
    counts = UpsertCounts()
    fields = CONTENT_FIELDS if from_feed else CONTENT_FIELDS + METRIC_FIELDS
    new_rows = []
    for url, row in rows.items():
        post = existing.get(url)
        if post is None:
            new_rows.append({**row, "feed_id": feed_id, "created_at": now, "updated_at": now})
        elif from_feed and (feed_id is None or post.feed_id != feed_id):
            counts.unchanged += 1  # a feed only rewrites the posts it brought in
        elif _apply(post, row, fields):
            post.updated_at = now
            counts.updated += 1
        else:
            counts.unchanged += 1
    if new_rows:
        session.execute(insert(Post), new_rows)
    counts.created = len(new_rows)
    session.flush()
    return counts


def _upsert(
    session: Session,
    items: Sequence[PostIn],
    *,
    now: datetime,
    feed_id: int | None,
    from_feed: bool,
) -> UpsertCounts:
    # A concurrent writer can insert one of our new URLs between our SELECT and INSERT; the
    # savepoint lets us re-read and try once more instead of failing the caller's transaction.
    for attempt in (1, 2):
        try:
            with session.begin_nested():
                return _upsert_once(session, items, now=now, feed_id=feed_id, from_feed=from_feed)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def upsert_posts(session: Session, items: Sequence[PostIn], *, now: datetime) -> dict[str, int]:
    """Create or update posts by URL; content and metrics replace what was stored."""
    return _upsert(session, items, now=now, feed_id=None, from_feed=False).model_dump()


def upsert_feed_posts(
    session: Session, items: Sequence[PostIn], *, now: datetime, feed_id: int | None
) -> dict[str, int]:
    """Create posts from a feed with zero metrics; update only posts this feed brought in."""
    return _upsert(session, items, now=now, feed_id=feed_id, from_feed=True).model_dump()


def list_posts(session: Session, *, week: str | None, limit: int, offset: int) -> PostPage:
    """A page of the posts published in an ISO week (all when None), newest first.

    The week runs from Monday 00:00 UTC to the next; a malformed one is `Invalid`."""
    conditions = []
    if week is not None:
        try:
            start, end = week_window(week)
        except ValueError as error:
            raise Invalid(str(error)) from error
        week = week.strip().upper()
        conditions += [Post.published_at >= start, Post.published_at < end]
    total = session.scalar(select(func.count()).select_from(Post).where(*conditions)) or 0
    rows = session.scalars(
        select(Post)
        .where(*conditions)
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [PostOut.of(post) for post in rows]
    return PostPage(week=week, items=items, total=total, limit=limit, offset=offset)


def read_posts_file(path: Path) -> list[PostIn]:
    """Validated posts from a JSON file; InvalidPosts (a ValueError) says what is wrong."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidPosts(f"{path} is not valid JSON: {error}") from error
    return validate_posts(data)
