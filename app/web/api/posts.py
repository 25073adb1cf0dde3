"""Posts over the admin API: upsert a batch (all-or-nothing), list a week's posts."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.posts import InvalidPosts, list_posts, post_json, upsert_posts, validate_posts
from app.web.deps import db_session
from app.weeks import week_window

router = APIRouter(tags=["posts"])
# Thousands of posts with typical summaries fit in well under this; more is a mistake or abuse.
MAX_BODY_BYTES = 5_000_000


class BadBody(Exception):
    """A request body the API refuses before looking at its content."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, self.status)


async def read_json_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> Any:
    """The parsed JSON body: 415 if not JSON, 413 past `limit` bytes (checked while reading)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadBody(415, "send the body as application/json")
    too_large = BadBody(413, f"the body is larger than {limit:,} bytes; send smaller batches")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadBody(400, f"the body is not valid JSON: {error}") from error


@router.post("/posts")
async def upsert_posts_route(request: Request, session: Session = db_session) -> JSONResponse:
    """Upsert a JSON list of posts keyed by URL; any invalid post refuses the whole list."""
    try:
        data = await read_json_body(request)
    except BadBody as error:
        return error.response()
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
