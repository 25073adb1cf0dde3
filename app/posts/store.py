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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Post

MAX_URL_LENGTH = 2000
MAX_TITLE_LENGTH = 500
MAX_SUMMARY_LENGTH = 20_000
MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 100
MAX_POSTS_PER_BATCH = 10_000
MAX_COUNTER = 2**63 - 1  # BIGINT
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

Counter = Annotated[int, Field(ge=0, le=MAX_COUNTER, strict=True)]


def check_http_url(value: Any) -> str:
    """An absolute http(s) URL of at most 2000 characters, trimmed; ValueError says why not."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


def clean_topics(value: Any) -> list[str]:
    """Topics trimmed, lower-cased and de-duplicated; ValueError past 20 or if not strings."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError("must be a list of strings")
    topics = list(dict.fromkeys(" ".join(t.split()).lower() for t in value if t.strip()))
    if len(topics) > MAX_TOPICS:
        raise ValueError(f"at most {MAX_TOPICS} topics, got {len(topics)}")
    if any(len(t) > MAX_TOPIC_LENGTH for t in topics):
        raise ValueError(f"each topic must be at most {MAX_TOPIC_LENGTH} characters")
    return topics


def host_of(url: str) -> str:
    """The host of a URL without a leading `www.` (the default source name)."""
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")


class Metrics(BaseModel):
    """Absolute engagement counters; a missing one is 0."""

    model_config = ConfigDict(extra="ignore")

    views: Counter = 0
    likes: Counter = 0
    shares: Counter = 0
    comments: Counter = 0


class PostIn(BaseModel):
    """One post as the JSON API (or a feed) hands it in (SPEC §7)."""

    model_config = ConfigDict(extra="ignore")

    url: str
    title: str = Field(min_length=1, max_length=MAX_TITLE_LENGTH)
    summary: str = Field(default="", max_length=MAX_SUMMARY_LENGTH)
    image_url: str | None = None
    author: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=200)
    topics: list[str] = Field(default_factory=list)
    published_at: datetime
    read_minutes: int | None = Field(default=None, ge=0, le=100_000, strict=True)
    metrics: Metrics = Field(default_factory=Metrics)

    _url = field_validator("url", mode="before")(check_http_url)
    _topics = field_validator("topics", mode="before")(clean_topics)

    @field_validator("image_url", mode="before")
    @classmethod
    def _image_url(cls, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check_http_url(value)

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> Any:
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("summary", mode="before")
    @classmethod
    def _summary(cls, value: Any) -> Any:
        return "" if value is None else value.strip() if isinstance(value, str) else value

    @field_validator("author", "source", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(value.split()) or None
        return value

    @field_validator("published_at", mode="before")
    @classmethod
    def _published_at(cls, value: Any) -> datetime:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"must be ISO-8601 like 2026-11-23T09:30:00+01:00, got {value[:40]!r}"
                ) from None
        else:
            raise ValueError("must be an ISO-8601 string with a UTC offset")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("needs a UTC offset (e.g. +00:00 or Z); naive times are ambiguous")
        return moment

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _default_source(self) -> PostIn:
        if not self.source:
            self.source = host_of(self.url)[:200]
        return self


class InvalidPosts(ValueError):
    """A batch refused whole; `errors` names each bad item by index."""

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

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


@dataclass
class UpsertCounts:
    """What an upsert did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


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
    return _upsert(session, items, now=now, feed_id=None, from_feed=False).as_dict()


def upsert_feed_posts(
    session: Session, items: Sequence[PostIn], *, now: datetime, feed_id: int | None
) -> dict[str, int]:
    """Create posts from a feed with zero metrics; update only posts this feed brought in."""
    return _upsert(session, items, now=now, feed_id=feed_id, from_feed=True).as_dict()


def post_json(post: Post) -> dict[str, Any]:
    """A post as the API shows it (SPEC §7 Post JSON, with `id`)."""
    return {
        "id": post.id,
        "url": post.url,
        "title": post.title,
        "summary": post.summary,
        "image_url": post.image_url,
        "author": post.author,
        "source": post.source,
        "topics": list(post.topics or []),
        "published_at": post.published_at.isoformat(),
        "read_minutes": post.read_minutes,
        "metrics": {name: getattr(post, name) for name in METRIC_FIELDS},
        "feed_id": post.feed_id,
    }


def list_posts(
    session: Session, *, start: datetime | None, end: datetime | None, limit: int, offset: int
) -> tuple[list[Post], int]:
    """Posts published in [start, end) (all when unbounded), newest first, and their total."""
    conditions = []
    if start is not None:
        conditions.append(Post.published_at >= start)
    if end is not None:
        conditions.append(Post.published_at < end)
    total = session.scalar(select(func.count()).select_from(Post).where(*conditions)) or 0
    rows = session.scalars(
        select(Post)
        .where(*conditions)
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def read_posts_file(path: Path) -> list[PostIn]:
    """Validated posts from a JSON file; InvalidPosts (a ValueError) says what is wrong."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidPosts(f"{path} is not valid JSON: {error}") from error
    return validate_posts(data)
