"""The pages a reader's mail links open: confirm and unsubscribe.

Link scanners and mail-security proxies fetch every GET in a mail, so a GET only shows a page
with a button; the POST acts. The signed, single-purpose token is the secret: no cookie is
needed, so the reader may open the link in any browser.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.models import SubscriberStatus
from app.readers.subscriptions import (
    Requester,
    confirm,
    subscriber_for_confirm,
    subscriber_for_unsubscribe,
    unsubscribe,
)
from app.tokens import InvalidToken
from app.web.deps import WebContext, client_ip, context, db_session
from app.web.public import FORM_TYPES, message_page, origin_allowed, page

router = APIRouter()


def _confirm_max_age(ctx: WebContext) -> timedelta:
    return timedelta(days=ctx.settings.confirm_ttl_days)


def _broken_confirm_link(request: Request, error: InvalidToken) -> HTMLResponse:
    return message_page(
        request,
        "This link doesn't work",
        error.reason,
        "Subscribe again and we'll send a fresh link.",
        status=400,
        link=("/", "Subscribe"),
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(
    token: str,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """Ask before confirming: link scanners prefetch GETs, so this changes nothing."""
    try:
        subscriber = subscriber_for_confirm(
            session,
            signer=ctx.signer,
            token=token,
            now=clock.now(),
            max_age=_confirm_max_age(ctx),
        )
    except InvalidToken as error:
        return _broken_confirm_link(request, error)
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return message_page(
            request,
            "You're already subscribed",
            f"{subscriber.email} gets the weekly top 10 every Monday. Nothing else to do.",
            link=("/archive", "Read past issues"),
        )
    return page(request, "confirm.html", email=subscriber.email, token=token)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_subscription(
    token: str,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """Confirm a subscription; idempotent. Bad, tampered or expired token → 400, nothing changes.

    The signed, single-purpose token is the secret, so no cookie is asked for: the reader may
    open the link in another browser than the one they subscribed in. A cross-site POST is
    refused, as on the subscribe form."""
    if not origin_allowed(request, ctx):
        return message_page(
            request,
            "Sorry",
            "This confirmation was sent from another site, so we did not act on it.",
            status=403,
            link=(f"/confirm/{token}", "Open the confirmation page"),
        )
    try:
        subscriber = confirm(
            session,
            signer=ctx.signer,
            token=token,
            now=clock.now(),
            max_age=_confirm_max_age(ctx),
            requester=Requester(
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
                channel="confirm-page",
            ),
        )
    except InvalidToken as error:
        return _broken_confirm_link(request, error)
    return message_page(
        request,
        "You're subscribed",
        f"{subscriber.email} will get the weekly top 10 every Monday.",
        "Every email has a one-click unsubscribe link.",
        link=("/archive", "Read past issues"),
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(
    token: str,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """Ask before unsubscribing: mail scanners follow links, so GET changes nothing."""
    try:
        subscriber = subscriber_for_unsubscribe(session, signer=ctx.signer, token=token)
    except InvalidToken as error:
        return message_page(request, "This link doesn't work", error.reason, status=400)
    already = subscriber.status not in SubscriberStatus.SUBSCRIBED
    return page(request, "unsubscribe.html", email=subscriber.email, token=token, already=already)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def one_click_unsubscribe(
    token: str,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """RFC 8058 one-click: any body, no cookie, no CSRF; always 200 and never a redirect."""
    channel = "one-click"
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(FORM_TYPES):
        try:
            form = await request.form(max_files=1, max_fields=10)
            channel = "unsubscribe-page" if form.get("via") == "page" else channel
        except Exception:  # noqa: BLE001 - a body we cannot parse must not block leaving
            pass
    try:
        subscriber = await run_in_threadpool(
            subscriber_for_unsubscribe, session, signer=ctx.signer, token=token
        )
    except InvalidToken as error:
        return message_page(request, "This link doesn't work", error.reason, status=400)
    requester = Requester(
        ip=client_ip(request), user_agent=request.headers.get("user-agent"), channel=channel
    )
    await run_in_threadpool(
        unsubscribe, session, subscriber=subscriber, now=clock.now(), requester=requester
    )
    return message_page(
        request,
        "You're unsubscribed",
        f"{subscriber.email} will get no more digests. Sorry to see you go.",
        link=("/", "Changed your mind? Subscribe again"),
    )
