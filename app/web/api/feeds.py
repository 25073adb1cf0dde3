"""Feeds over the admin API: list with poll health, add (409 if already there), poll now, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock
from app.db import enqueue
from app.models import Feed, Post
from app.posts.feeds import FeedExists, add_feed, feed_json
from app.posts.store import check_http_url, clean_topics
from app.web.deps import db_session, read_json_body

router = APIRouter(tags=["feeds"])


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


@router.get("/feeds")
def list_feeds(session: Session = db_session) -> JSONResponse:
    """Every feed with when it was last fetched, how that went, and its consecutive failures."""
    feeds = session.scalars(select(Feed).order_by(Feed.id))
    items = [feed_json(feed) for feed in feeds]
    return JSONResponse({"items": items, "total": len(items)})


@router.post("/feeds")
async def add_feed_route(request: Request, session: Session = db_session) -> JSONResponse:
    """Add a feed to poll: 201 with the feed; 409 with the existing one if the URL is known."""
    data = await read_json_body(request, limit=100_000)
    try:
        body = FeedIn.model_validate(data)
    except ValidationError as error:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_input=False, include_url=False)
        ]
        return JSONResponse({"detail": "; ".join(problems)}, 422)
    try:
        feed = add_feed(
            session, url=body.url, topics=body.topics, title=body.title, now=clock.now()
        )
    except FeedExists as error:
        return JSONResponse({"detail": str(error), "feed": feed_json(error.feed)}, 409)
    return JSONResponse(feed_json(feed), 201)


@router.post("/feeds/{feed_id}/poll")
def poll_feed_route(feed_id: int, session: Session = db_session) -> JSONResponse:
    """Queue a poll of one feed now (202); the outcome shows in `GET /api/feeds`."""
    if session.get(Feed, feed_id) is None:
        return JSONResponse({"detail": f"no feed {feed_id}"}, 404)
    enqueue(session, "digest.poll_feed", feed_id)
    return JSONResponse({"status": "queued", "feed_id": feed_id}, 202)


@router.delete("/feeds/{feed_id}")
def delete_feed_route(feed_id: int, session: Session = db_session) -> Response:
    """Stop polling a feed; the posts it brought in stay."""
    feed = session.get(Feed, feed_id)
    if feed is None:
        return JSONResponse({"detail": f"no feed {feed_id}"}, 404)
    session.execute(update(Post).where(Post.feed_id == feed_id).values(feed_id=None))
    session.delete(feed)
    return Response(status_code=204)
