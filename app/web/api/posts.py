"""Posts over the admin API: upsert a batch (all-or-nothing), list a week's posts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import SkipValidation

from app import clock
from app.posts.schemas import PostBatch, PostPage, PostsRefused, UpsertCounts
from app.posts.store import list_posts, upsert_posts, validate_posts
from app.web.deps import SessionDep, json_body_routes
from app.web.params import Offset

# Thousands of posts with typical summaries fit in well under this; more is a mistake or abuse.
MAX_BODY_BYTES = 5_000_000
router = APIRouter(tags=["posts"], route_class=json_body_routes(limit=MAX_BODY_BYTES))


@router.post(
    "/posts",
    responses={422: {"model": PostsRefused, "description": "the batch, refused whole"}},
)
def upsert_posts_route(
    # Documented as posts, validated by `validate_posts`: it refuses a batch whole, naming
    # every bad post by its index, which a per-field validation error cannot say.
    batch: Annotated[PostBatch, SkipValidation, Body()],
    session: SessionDep,
) -> UpsertCounts:
    """Upsert a JSON list of posts keyed by URL; any invalid post refuses the whole list."""
    counts = upsert_posts(session, validate_posts(batch), now=clock.now())
    return UpsertCounts(**counts)


@router.get("/posts")
def list_posts_route(
    session: SessionDep,
    week: Annotated[
        str | None, Query(description="ISO week like 2026-W48; all posts when omitted")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> PostPage:
    """The posts published in an ISO week (Monday 00:00 UTC to the next), newest first."""
    return list_posts(session, week=week, limit=limit, offset=offset)
