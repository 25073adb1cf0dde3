"""Feeds over the admin API: list with poll health, add (409 if already there), poll now, remove."""

from __future__ import annotations

from fastapi import APIRouter

from app import clock
from app.posts.feeds import add_feed, list_feeds, queue_poll, remove_feed
from app.posts.schemas import FeedConflict, FeedIn, FeedList, FeedOut, PollQueued
from app.web.deps import SessionDep, SettingsDep, json_body_routes
from app.web.errors import refusals
from app.web.params import RowId

router = APIRouter(tags=["feeds"], route_class=json_body_routes(limit=100_000))
NO_FEED = refusals({404: "no feed with that id"})


@router.get("/feeds")
def list_feeds_route(session: SessionDep) -> FeedList:
    """Every feed with when it was last fetched, how that went, and its consecutive failures."""
    items = [FeedOut.model_validate(feed) for feed in list_feeds(session)]
    return FeedList(items=items, total=len(items))


@router.post(
    "/feeds",
    status_code=201,
    responses={409: {"model": FeedConflict, "description": "the URL is already polled"}},
)
def add_feed_route(body: FeedIn, session: SessionDep, settings: SettingsDep) -> FeedOut:
    """Add a feed to poll (its first poll is queued): 201 with the feed; 422 if its host is
    loopback, private, link-local or reserved (unless DIGEST_FEED_ALLOW_PRIVATE=true)."""
    feed = add_feed(
        session,
        url=body.url,
        topics=body.topics,
        title=body.title,
        now=clock.now(),
        allow_private=settings.feed_allow_private,
    )
    return FeedOut.model_validate(feed)


@router.post("/feeds/{feed_id}/poll", status_code=202, responses=NO_FEED)
def poll_feed_route(feed_id: RowId, session: SessionDep) -> PollQueued:
    """Queue a poll of one feed now (202); the outcome shows in `GET /api/feeds`."""
    queue_poll(session, feed_id=feed_id)
    return PollQueued(feed_id=feed_id)


@router.delete("/feeds/{feed_id}", status_code=204, responses=NO_FEED)
def delete_feed_route(feed_id: RowId, session: SessionDep) -> None:
    """Stop polling a feed; the posts it brought in stay."""
    remove_feed(session, feed_id=feed_id)
