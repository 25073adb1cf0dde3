"""Posts over the admin API: upsert a batch (all-or-nothing), list a week's posts."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.posts.store import InvalidPosts, list_posts, post_json, upsert_posts, validate_posts
from app.web.deps import db_session, read_json_body
from app.weeks import week_window

router = APIRouter(tags=["posts"])
# Thousands of posts with typical summaries fit in well under this; more is a mistake or abuse.
MAX_BODY_BYTES = 5_000_000


@router.post("/posts")
async def upsert_posts_route(request: Request, session: Session = db_session) -> JSONResponse:
    """Upsert a JSON list of posts keyed by URL; any invalid post refuses the whole list."""
    data = await read_json_body(request, limit=MAX_BODY_BYTES)
    try:
        posts = await run_in_threadpool(validate_posts, data)
    except InvalidPosts as error:
        return JSONResponse({"detail": error.detail, "errors": error.errors}, 422)
    counts = await run_in_threadpool(upsert_posts, session, posts, now=clock.now())
    return JSONResponse(counts)


@router.get("/posts")
def list_posts_route(
    week: str | None = Query(None, description="ISO week like 2026-W48; all posts when omitted"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = db_session,
) -> JSONResponse:
    """The posts published in an ISO week (Monday 00:00 UTC to the next), newest first."""
    start = end = None
    if week is not None:
        try:
            start, end = week_window(week)
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, 422)
        week = week.strip().upper()
    rows, total = list_posts(session, start=start, end=end, limit=limit, offset=offset)
    return JSONResponse(
        {
            "week": week,
            "items": [post_json(row) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )
