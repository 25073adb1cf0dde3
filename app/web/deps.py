"""Request-scoped dependencies: settings, the unit of work, the signer, admin auth, rate limits."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import Depends, HTTPException, Request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import session_scope
from app.tokens import Signer


@dataclass
class WebContext:
    """What the app built once at start and every request shares."""

    settings: Settings
    sessions: sessionmaker[Session]
    signer: Signer
    limiter: MovingWindowRateLimiter


def make_limiter(settings: Settings) -> MovingWindowRateLimiter:
    """Rate-limit counters: in memory for one process, in Redis when the broker is Redis."""
    uri = settings.broker_url if settings.broker_url.startswith("redis") else "memory://"
    return MovingWindowRateLimiter(storage_from_string(uri))


async def context(request: Request) -> WebContext:
    return request.app.state.digest


async def settings_dep(ctx: WebContext = Depends(context)) -> Settings:
    return ctx.settings


def _unit_of_work(ctx: WebContext = Depends(context)) -> Iterator[Session]:
    """One transaction per request: commit when the route returns, roll back when it raises."""
    with session_scope(sessions=ctx.sessions) as session:
        yield session


# scope="function": commit before the response is sent, so the client never sees uncommitted work.
db_session = Depends(_unit_of_work, scope="function")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RateLimited(Exception):
    """Too many requests; `retry_after` seconds until the next is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@lru_cache(maxsize=32)
def rate_item(rate: str) -> RateLimitItem:
    """The parsed form of a rate such as "10/minute" (parsed once: it is read per request)."""
    return parse(rate)


def check_rate(ctx: WebContext, rate: str, *key: str) -> None:
    """Count one hit against `rate` for `key`; raise `RateLimited` past the limit."""
    item = rate_item(rate)
    if not ctx.limiter.hit(item, *key):
        reset_at, _remaining = ctx.limiter.get_window_stats(item, *key)
        raise RateLimited(max(1, int(reset_at - time.time()) + 1))


def require_admin_token(request: Request, ctx: WebContext = Depends(context)) -> None:
    """Admin API guard: `Authorization: Bearer $DIGEST_ADMIN_TOKEN` (401 without, 403 wrong)."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise HTTPException(
            401,
            "Authorization: Bearer <DIGEST_ADMIN_TOKEN> required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = ctx.settings.admin_token
    if not expected:
        raise HTTPException(403, "the admin API is closed: set DIGEST_ADMIN_TOKEN to open it")
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise HTTPException(403, "wrong admin token")


_REQUIRED: Any = object()


async def read_json_body(
    request: Request, *, limit: int = 1_000_000, empty: Any = _REQUIRED
) -> Any:
    """The parsed JSON body of an API request, or an HTTPException saying what is wrong.

    415 for a declared non-JSON type, 413 past `limit` bytes (counted while reading, whatever
    Content-Length says), 400 for broken JSON; an empty body is `empty` when given, else 400.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(415, "send the body as application/json")
    too_large = HTTPException(413, f"the body is larger than {limit:,} bytes; send less at once")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    if not body.strip():
        if empty is _REQUIRED:
            raise HTTPException(400, "the body is empty: send JSON")
        return empty
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise HTTPException(400, f"the body is not valid JSON: {error}") from error
