"""`POST /webhooks/bounces/{provider}`: bounce and complaint events from SES, Postmark, Mailgun
and SendGrid (SPEC §6, §9).

The providers call it, so there is no admin login and no CSRF: each request proves itself to
its provider's module (`app.bounces.providers`). The body is read raw, because signatures cover
its exact bytes, and at most `BODY_LIMIT` of it (413 past that). Answers are JSON: 200
`{"processed", "changed", "actions"}`; a refusal is `{"detail": why}` with the status of its
kind (`REFUSALS`) and nothing changed, never a 500 for anything a caller can send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request
from pydantic import BaseModel

from app import clock
from app.bounces.providers import (
    Checks,
    Forbidden,
    Incoming,
    Misconfigured,
    Unauthenticated,
    Unreadable,
    WebhookRefused,
    WrongShape,
)
from app.bounces.providers.sns import CertificateCache, fetch_https
from app.bounces.webhooks import PROVIDERS, Received, receive_webhook
from app.errors import NotFound
from app.web.deps import ContextDep, SessionDep, WebContext, rate_item
from app.web.errors import refusals

log = logging.getLogger(__name__)

BODY_LIMIT = 1_000_000  # bytes; a SendGrid batch is far smaller, an SNS message at most 256 KB
# A Mailgun token is refused when seen again within this window (its timestamps live 5 minutes).
REPLAY_WINDOW = "1/10 minutes"
REFUSALS: tuple[tuple[type[WebhookRefused], int], ...] = (
    (Unreadable, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (WrongShape, 422),
    (Misconfigured, 503),
)


@dataclass
class WebhookTools:
    """What verifying shares across requests: the HTTPS getter (SNS certificates and
    subscription confirmations) and the certificate cache. Tests replace `fetch`."""

    fetch: Callable[[str], bytes] = fetch_https
    certificates: CertificateCache = field(default_factory=CertificateCache)


class Action(BaseModel):
    """What became of one report of the request."""

    action: str
    changed: bool
    kind: str | None = None
    recipient: str | None = None
    subscriber_id: int | None = None


class WebhookAnswer(BaseModel):
    """The request was the provider's and was read; each report's fate is in `actions`."""

    provider: str
    processed: int
    changed: int
    actions: list[Action]


router = APIRouter(tags=["webhooks"])


def install(app: FastAPI) -> None:
    """Mount the webhook route, with its tools on the app's state."""
    app.state.webhook_tools = WebhookTools()
    app.include_router(router)


async def raw_body(request: Request) -> bytes:
    """The body's exact bytes, refused with 413 past `BODY_LIMIT` (counted while reading)."""
    too_large = HTTPException(413, f"the body is larger than {BODY_LIMIT:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise too_large
    return bytes(body)


def _first_sight(ctx: WebContext) -> Callable[[str], bool]:
    # The rate limiter's store is Redis when the broker is: every API process sees every token.
    return lambda key: ctx.limiter.hit(rate_item(REPLAY_WINDOW), "webhook-once", key)


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "The provider's own event payload, exactly as it sends it.",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in ("application/json", "text/plain")  # SNS posts text/plain
        },
    }
}


@router.post(
    "/webhooks/bounces/{provider}",
    responses=refusals(
        {
            400: "the body is not JSON",
            401: "no credentials or signature",
            403: "wrong, stale, replayed or foreign credentials or signature",
            404: "no such provider, or its setting is unset",
            413: "the body is larger than 1 MB",
            422: "JSON, but not the provider's payload",
            503: "our setting for the provider cannot be used",
        }
    ),
    openapi_extra=_BODY_DOC,
)
def bounce_webhook(
    provider: Annotated[str, Path(json_schema_extra={"enum": list(PROVIDERS)})],
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    body: bytes = Depends(raw_body),
) -> WebhookAnswer:
    """Apply a provider's bounce and complaint events: `ses`, `postmark`, `mailgun`, `sendgrid`.

    Each is authenticated as its provider documents (SNS signature and topic, Basic auth,
    HMAC, ECDSA) and enabled by its setting; a provider without one answers 404.
    """
    tools: WebhookTools = request.app.state.webhook_tools
    checks = Checks(
        settings=ctx.settings,
        now=clock.now(),
        fetch=tools.fetch,
        certificates=tools.certificates,
        first_sight=_first_sight(ctx),
    )
    try:
        received = receive_webhook(session, provider, Incoming(body, request.headers), checks)
    except WebhookRefused as refused:
        raise _answer(provider, refused) from None
    return _answer_of(received)


def _answer(provider: str, refused: WebhookRefused) -> HTTPException:
    if isinstance(refused, NotFound):
        return HTTPException(404, str(refused))
    status = next((code for kind, code in REFUSALS if isinstance(refused, kind)), 400)
    log.warning("%r webhook refused (%s): %r", provider[:20], status, str(refused))
    headers = {"WWW-Authenticate": 'Basic realm="bounce webhooks"'} if status == 401 else None
    return HTTPException(status, str(refused), headers=headers)


def _answer_of(received: Received) -> WebhookAnswer:
    actions = [
        Action(
            action=applied.action,
            changed=applied.changed,
            kind=applied.report.kind if applied.report else None,
            recipient=applied.report.recipient if applied.report else None,
            subscriber_id=applied.subscriber_id,
        )
        for applied in received.applied
    ]
    return WebhookAnswer(
        provider=received.provider,
        processed=received.processed,
        changed=received.changed,
        actions=actions,
    )
