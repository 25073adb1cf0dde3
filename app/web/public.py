"""Public pages: the subscribe form and the pages every public route shares."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindowRateLimiter
from limits.storage import RedisStorage, storage_from_string
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from app.readers.batcher import RateGate, SubscribeBatcher, SubscribeFailed, store_subscriptions
from app.readers.names import InvalidName, clean_name
from app.readers.subscriptions import (
    InvalidAddress,
    Requester,
    SubscriptionRequest,
    normalise_email,
)
from app.sections import UnknownSections
from app.web.deps import (
    RateLimited,
    WebContext,
    capped_request,
    check_rate,
    client_ip,
    rate_item,
)

router = APIRouter()
TEMPLATES = Path(__file__).parent / "templates"
CSRF_COOKIE = "digest_csrf"
MAX_BODY = 16_384
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadSubscribeRequest(Exception):
    """A request to /subscribe that cannot be read; `status` and `reason` say why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@cache
def templates() -> Jinja2Templates:
    """The public pages' Jinja environment, made on the first page rendered."""
    return Jinja2Templates(directory=str(TEMPLATES))


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """Render a template with the settings every page shows."""
    values.setdefault("settings", request.app.state.digest.settings)
    return templates().TemplateResponse(request, template, values, status_code=status)


def message_page(
    request: Request,
    heading: str,
    *paragraphs: str,
    status: int = 200,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A short page for people: a heading, a few paragraphs and a way on (`link`)."""
    return page(request, "message.html", status, heading=heading, paragraphs=paragraphs, link=link)


def with_subscribe_form(
    request: Request, template: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """A page that holds the subscribe form (`_subscribe_form.html`): its CSRF token, kept in a
    cookie that POST /subscribe compares with the form's field (the archive's pages use it too)."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, template, status, csrf_token=token, **values)
    secure = request.app.state.digest.settings.public_base_url.startswith("https://")
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=7 * 86400
    )
    return response


def _form_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    email: str | None = None,
    name: str | None = None,
    topics: list[str] | None = None,
) -> HTMLResponse:
    return with_subscribe_form(
        request, "index.html", status, error=error, email=email, name=name, topics=topics
    )


@router.get("/", response_class=HTMLResponse)
def subscribe_form(request: Request) -> HTMLResponse:
    """The subscribe form; plain HTML, works without JavaScript."""
    return _form_page(request)


def origin_allowed(request: Request, ctx: WebContext) -> bool:
    """A browser's Origin (or Referer, without one), when sent, must be this site.

    Scripts that send neither are fine: a forged cross-site request comes from a browser, and
    browsers send at least one of them on a POST."""
    sender = request.headers.get("origin") or request.headers.get("referer")
    if not sender:
        return True
    allowed = {urlsplit(ctx.settings.public_base_url).netloc, request.headers.get("host", "")}
    return urlsplit(sender).netloc in allowed


def _capped(request: Request) -> Request:
    """The request with a body cut at MAX_BODY while it streams in."""
    too_large = BadSubscribeRequest(413, f"The request is too large (at most {MAX_BODY:,} bytes).")
    return capped_request(request, MAX_BODY, too_large)


async def _read_subscribe_body(request: Request) -> tuple[dict[str, Any], bool]:
    """The fields of a form or JSON subscribe request, and whether it came from the form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await _capped(request).body()
        try:
            data = json.loads(body)
        except RecursionError as error:
            raise BadSubscribeRequest(400, "The JSON is nested too deeply.") from error
        except (ValueError, UnicodeDecodeError) as error:
            raise BadSubscribeRequest(400, f"The body is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise BadSubscribeRequest(422, 'Send a JSON object like {"email": "you@example.org"}.')
        return data, False
    if content_type in FORM_TYPES:
        try:
            form = await _capped(request).form(max_files=0, max_fields=30)
        except HTTPException as error:  # Starlette's refusal of a malformed multipart body
            raise BadSubscribeRequest(error.status_code, str(error.detail)) from error
        data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        # The one field that repeats: a checkbox per section (none ticked = everything).
        data["topics"] = [value for value in form.getlist("topics") if isinstance(value, str)]
        return data, True
    raise BadSubscribeRequest(
        415, "Send the form (application/x-www-form-urlencoded) or JSON (application/json)."
    )


def _field(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAddress(f"'{key}' must be a string.")
    return value


@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    """Start double opt-in. Every valid address gets the same answer, whatever its state."""
    # Not Depends(context): a sync dependency costs a threadpool hop, a third of this route's CPU.
    ctx: WebContext = request.app.state.digest
    arrived = time.monotonic()
    wants_json = "application/json" in request.headers.get("content-type", "")
    try:
        await _check_subscribe_rate(request, ctx)
    except RateLimited as limited:
        return _refuse(
            request,
            429,
            f"Too many requests. Try again in {limited.retry_after} seconds.",
            wants_json,
            headers={"Retry-After": str(limited.retry_after)},
        )
    try:
        data, from_form = await _read_subscribe_body(request)
    except BadSubscribeRequest as error:
        return _refuse(request, error.status, error.reason, wants_json)
    if not origin_allowed(request, ctx):
        return _refuse(request, 403, "This form was submitted from another site.", wants_json)
    if from_form:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        presented = str(data.get("csrf_token", ""))
        if not cookie or not hmac.compare_digest(cookie.encode(), presented.encode()):
            return _refuse(
                request,
                403,
                "Your form session expired. Please reload the page and try again.",
                wants_json=False,
            )
    if data.get("website"):  # the honeypot: only bots fill a field people cannot see
        await _answer_floor(request).hold(arrived)
        return _accepted(request, from_form)
    topics = data.get("topics")
    try:
        email, name = _field(data, "email") or "", clean_name(_field(data, "name"))
        if topics is not None and (
            not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)
        ):
            raise InvalidAddress("'topics' must be a list of strings.")
        address = await _normalise(ctx, email)
        sections = ctx.settings.sections.choose(topics or [])
    except (InvalidAddress, InvalidName, UnknownSections) as error:
        reason = str(error)
        if from_form:
            return _form_page(
                request,
                status=422,
                error=reason,
                email=(data.get("email") or "")[:254],
                name=data.get("name"),
                topics=topics,
            )
        return JSONResponse({"error": "invalid", "detail": reason}, status_code=422)
    requester = Requester(
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        channel="form" if from_form else "api",
    )
    try:
        await _batcher(request).submit(SubscriptionRequest(address, name, requester, sections))
    except SubscribeFailed:
        # Never "check your inbox" for a request that was not stored; the batcher logged why.
        return _refuse(
            request,
            503,
            "We could not take your subscription just now. Please try again in a minute.",
            wants_json,
            headers={"Retry-After": "60"},
        )
    await _answer_floor(request).hold(arrived)
    return _accepted(request, from_form)


class AnswerFloor:
    """When an accepted subscribe may be answered: never before most requests could be.

    A new or returning address costs more than a known one (a consent row, a confirmation
    published before the answer, so that a stored request is never left without its mail), and
    an answer sent as soon as ready told which it was (issue 11, item 7). So every accepted
    request is held until `seconds` after it arrived: a running estimate of a high quantile
    (~90 %) of how long accepted requests took, kept by stepping up fast past a slower one and
    down slowly below, never under MIN_SECONDS nor over MAX_SECONDS. A held answer sleeps
    without CPU; the slowest few (over the estimate) still answer when ready.
    """

    MIN_SECONDS = 0.010  # an idle server does either kind in ~3-8 ms
    # Past this the server is busy: requests share batches whatever their state, and their
    # times tell little; holding answers longer would only slow the closed-loop benchmark.
    MAX_SECONDS = 0.025
    UP, DOWN = 0.09, 0.01  # steady when 10 % of requests are over: 0.09 * 10 % = 0.01 * 90 %

    def __init__(self) -> None:
        self.seconds = self.MIN_SECONDS

    def learn(self, took: float) -> None:
        """Move the estimate toward one more accepted request's time."""
        step = self.UP if took > self.seconds else self.DOWN
        self.seconds = min(
            self.MAX_SECONDS, max(self.MIN_SECONDS, self.seconds + step * (took - self.seconds))
        )

    async def hold(self, arrived: float) -> None:
        """Learn from this request (`arrived` by time.monotonic()), then wait out the floor."""
        took = time.monotonic() - arrived
        self.learn(took)
        if took < self.seconds:
            await asyncio.sleep(self.seconds - took)


def _answer_floor(request: Request) -> AnswerFloor:
    state = request.app.state
    floor: AnswerFloor | None = getattr(state, "subscribe_floor", None)
    if floor is None:
        floor = state.subscribe_floor = AnswerFloor()
    return floor


async def _check_subscribe_rate(request: Request, ctx: WebContext) -> None:
    """`check_rate` for /subscribe that never blocks the event loop on a Redis round trip."""
    ip = client_ip(request)
    if not isinstance(ctx.limiter.storage, RedisStorage):  # in memory: no I/O, nothing to await
        check_rate(ctx, ctx.settings.subscribe_rate, "subscribe", ip)
        return
    # The same moving window on the same Redis keys as `ctx.limiter`, through an async client.
    limiter, gate = _async_limiter(request.app.state, ctx)
    item = rate_item(ctx.settings.subscribe_rate)
    if not await gate.hit(item, "subscribe", ip):
        reset_at, _remaining = await limiter.get_window_stats(item, "subscribe", ip)
        raise RateLimited(max(1, int(reset_at - time.time()) + 1))


def _async_limiter(state: Any, ctx: WebContext) -> tuple[AsyncMovingWindowRateLimiter, RateGate]:
    """The app's async Redis limiter for the running event loop (its connections belong to it)."""
    loop = asyncio.get_running_loop()
    made: tuple[asyncio.AbstractEventLoop, AsyncMovingWindowRateLimiter, RateGate] | None = getattr(
        state, "subscribe_limiter", None
    )
    if made is None or made[0] is not loop:
        storage = storage_from_string(f"async+{ctx.settings.broker_url}", implementation="redispy")
        limiter = AsyncMovingWindowRateLimiter(storage)
        made = (loop, limiter, RateGate(limiter))
        state.subscribe_limiter = made
    return made[1], made[2]


async def _normalise(ctx: WebContext, email: str) -> str:
    """Validate off the event loop only when DNS is asked: the syntax check alone takes ~20 µs."""
    if not ctx.settings.check_deliverability:
        return normalise_email(email)
    return await run_in_threadpool(
        normalise_email,
        email,
        check_deliverability=True,
        dns_timeout=ctx.settings.dns_timeout,
    )


def _batcher(request: Request) -> SubscribeBatcher:
    """The app's one batcher, made on first use; it reads the context anew for every batch."""
    state = request.app.state
    batcher: SubscribeBatcher | None = getattr(state, "subscribe_batcher", None)
    if batcher is None:
        # Read `state.digest` per batch: tests swap its sessions for rolled-back ones.
        batcher = SubscribeBatcher(
            lambda requests: store_subscriptions(
                state.digest.sessions, state.digest.settings, requests
            )
        )
        state.subscribe_batcher = batcher
    return batcher


def _accepted(request: Request, from_form: bool) -> Response:
    if not from_form:
        return JSONResponse({"status": "check-your-inbox"}, status_code=202)
    return message_page(
        request,
        "Check your inbox",
        "If the address can receive our digest, a confirmation link is on its way. "
        "Click it to start getting the weekly top 10.",
        "Nothing there in a few minutes? Look in the spam folder.",
    )


def _refuse(
    request: Request,
    status: int,
    reason: str,
    wants_json: bool,
    headers: dict[str, str] | None = None,
) -> Response:
    headers = headers or {}
    if wants_json:
        return JSONResponse({"error": "refused", "detail": reason}, status, headers=headers)
    response = message_page(request, "Sorry", reason, status=status, link=("/", "Back to the form"))
    response.headers.update(headers)
    return response
