"""Request-scoped dependencies: settings, the unit of work, the signer, admin auth, rate limits,
and the API's guard on JSON bodies."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Body, Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message

from app.config import Settings
from app.db import session_scope
from app.tokens import Signer
from app.web.forwarded import client_address


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
    """The client's address: the one place the app reads it (rate limits, consent records).

    X-Forwarded-For counts only from DIGEST_TRUSTED_PROXIES (`app.web.forwarded`); uvicorn is
    started with `proxy_headers=False` so it does not rewrite the peer from the header first.
    """
    peer = request.client.host if request.client else "unknown"
    proxies = request.app.state.digest.settings.trusted_proxies
    return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)


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


def check_failures(ctx: WebContext, rate: str, *key: str) -> None:
    """Raise `RateLimited` if `key` has used up `rate`, without counting this request.

    For limits on failures (wrong passwords, wrong tokens): `count_failure` counts them, and a
    success never does.
    """
    item = rate_item(rate)
    if not ctx.limiter.test(item, *key):
        reset_at, _remaining = ctx.limiter.get_window_stats(item, *key)
        raise RateLimited(max(1, int(reset_at - time.time()) + 1))


def count_failure(ctx: WebContext, rate: str, *key: str) -> None:
    """Count one failure of `key` against `rate` (see `check_failures`)."""
    ctx.limiter.hit(rate_item(rate), *key)


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
    ip = client_ip(request)
    try:
        check_failures(ctx, ctx.settings.admin_token_rate, "admin-token", ip)
    except RateLimited as limited:
        raise HTTPException(
            429,
            "too many wrong admin tokens from this address; try again later",
            headers={"Retry-After": str(limited.retry_after)},
        ) from None
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        count_failure(ctx, ctx.settings.admin_token_rate, "admin-token", ip)
        raise HTTPException(403, "wrong admin token")


def body_or_empty() -> Any:
    """A JSON body that may be left out: an empty body is read, and validated, as `{}`."""
    return Body(default_factory=dict, validate_default=True)


def capped_request(request: Request, limit: int, too_large: Exception) -> Request:
    """The request with a body cut at `limit` bytes while it streams in: `too_large` is raised.

    Content-Length is checked first, but a chunked body has none: without counting as it
    arrives, 60 MB would be read whole before a size check refused it.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large
        return message

    return Request(request.scope, receive)


def json_body_routes(*, limit: int) -> type[APIRoute]:
    """A route class whose JSON bodies are refused before FastAPI reads them.

    The admin token is checked first, as on every admin route: a caller without it learns
    nothing about what it sent. Then 415 for a declared type that is not JSON (no type at all is
    read as JSON), 413 past `limit` bytes, counted while reading whatever Content-Length says.
    Routes without a body, and routes that read theirs by hand, are left alone.
    """

    class JSONBodyRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            if self.body_field is None:
                return handler

            async def guarded(request: Request) -> Response:
                require_admin_token(request, request.app.state.digest)
                content_type = request.headers.get("content-type", "").split(";")[0].strip()
                if content_type and not _is_json(content_type.lower()):
                    raise HTTPException(415, "send the body as application/json")
                too_large = HTTPException(
                    413, f"the body is larger than {limit:,} bytes; send less at once"
                )
                limited = capped_request(request, limit, too_large)
                try:  # read here so that too deep a JSON gets its own reason (cached for FastAPI)
                    await limited.json()
                except RecursionError as error:
                    raise HTTPException(400, "the JSON is nested too deeply") from error
                except ValueError:
                    pass  # broken or empty JSON: FastAPI answers it as it always has
                return await handler(limited)

            return guarded

    return JSONBodyRoute


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


ContextDep = Annotated[WebContext, Depends(context)]
SettingsDep = Annotated[Settings, Depends(settings_dep)]
SessionDep = Annotated[Session, db_session]
