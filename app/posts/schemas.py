"""Posts and feeds as the JSON API takes them in and answers them (SPEC §7 Post JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.clock import Timestamp
from app.models import Post

MAX_URL_LENGTH = 2000
MAX_TITLE_LENGTH = 500
MAX_SUMMARY_LENGTH = 20_000
MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 100
MAX_COUNTER = 2**63 - 1  # BIGINT

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


# ---- posts --------------------------------------------------------------------------------------


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
    source: str | None = Field(
        default=None, max_length=200, description="the URL's host when missing or blank"
    )
    topics: list[str] = Field(default_factory=list)
    published_at: datetime = Field(description="ISO-8601 with a UTC offset")
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


class PostBatchIn(BaseModel):
    """`POST /api/posts` may also wrap its list: `{"posts": [...]}`."""

    posts: list[PostIn]


# `POST /api/posts` body: a list of posts, or the same list wrapped.
PostBatch = list[PostIn] | PostBatchIn


class PostOut(BaseModel):
    """A stored post as the API shows it (SPEC §7 Post JSON, with `id`)."""

    id: int
    url: str
    title: str
    summary: str
    image_url: str | None
    author: str | None
    source: str
    topics: list[str]
    published_at: Timestamp
    read_minutes: int | None
    metrics: Metrics
    feed_id: int | None = Field(description="the feed that brought the post in, if any")

    @classmethod
    def of(cls, post: Post) -> PostOut:
        """The post's answer, its counters gathered under `metrics`."""
        return cls(
            id=post.id,
            url=post.url,
            title=post.title,
            summary=post.summary,
            image_url=post.image_url,
            author=post.author,
            source=post.source,
            topics=list(post.topics or []),
            published_at=post.published_at,
            read_minutes=post.read_minutes,
            metrics=Metrics(
                views=post.views, likes=post.likes, shares=post.shares, comments=post.comments
            ),
            feed_id=post.feed_id,
        )


class PostPage(BaseModel):
    """`GET /api/posts`: one page of a week's posts (or of all posts), newest first."""

    week: str | None = Field(description="the ISO week asked for, normalised; null for all")
    items: list[PostOut]
    total: int
    limit: int
    offset: int


class UpsertCounts(BaseModel):
    """What an upsert did, post by post."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


class PostProblems(BaseModel):
    """What is wrong with one post of a refused batch."""

    index: int = Field(description="its position in the list, from 0")
    url: str | None
    problems: list[str]


class PostsRefused(BaseModel):
    """A batch refused whole: nothing was stored."""

    detail: str
    errors: list[PostProblems]


# ---- feeds --------------------------------------------------------------------------------------


class FeedIn(BaseModel):
    """`POST /api/feeds` body: the feed URL, topics every post of it gets, an optional title."""

    model_config = ConfigDict(extra="forbid")

    url: str
    topics: list[str] = Field(default_factory=list)
    title: str | None = Field(default=None, max_length=500)

    _url = field_validator("url", mode="before")(check_http_url)
    # Same rules as a post's topics: lower-cased, trimmed, at most 20.
    _topics = field_validator("topics", mode="before")(clean_topics)

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> Any:
        return (" ".join(value.split()) or None) if isinstance(value, str) else value


class FeedOut(BaseModel):
    """A polled feed with how its last poll went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    title: str | None
    topics: list[str]
    last_fetched_at: Timestamp | None
    last_status: str | None = Field(description="ok, not-modified, http-404, timeout, …")
    last_error: str | None
    error_count: int = Field(description="consecutive failed polls")
    created_at: Timestamp

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> Any:
        return list(value or [])


class FeedList(BaseModel):
    """`GET /api/feeds`: every feed, oldest first."""

    items: list[FeedOut]
    total: int


class FeedConflict(BaseModel):
    """The URL is already polled: the feed that polls it."""

    detail: str
    feed: FeedOut


class PollQueued(BaseModel):
    """A poll was queued; its outcome shows in `GET /api/feeds`."""

    status: str = "queued"
    feed_id: int
