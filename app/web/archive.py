"""Public archive of sent digests (the list, each issue, the Atom feed) and click redirects."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItemPerDay
from sqlalchemy.orm import Session

from app import clock
from app.issues.archive import WebPages, archive_entries, atom_feed, published_issue
from app.issues.errors import IssueNotFound
from app.tracking.clicks import click_client, follow_click, is_prefetcher
from app.web.deps import WebContext, client_ip, context, db_session
from app.web.params import MAX_ROW_ID
from app.web.public import message_page, with_subscribe_form

router = APIRouter()
ONCE_A_DAY = RateLimitItemPerDay(1)


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request, session: Session = db_session) -> HTMLResponse:
    """The archive as the site's landing page for visitors: every sent digest, newest first,
    with its dates and top titles, beside the subscribe form."""
    return with_subscribe_form(request, "archive.html", entries=archive_entries(session))


@router.get("/archive/feed.xml")
def archive_feed(request: Request, session: Session = db_session) -> Response:
    """Every sent digest as an Atom feed (SPEC §6). Declared before /archive/{issue_id}."""
    settings = request.app.state.digest.settings
    return Response(
        atom_feed(archive_entries(session), settings=settings),
        media_type="application/atom+xml; charset=utf-8",
    )


@router.get("/archive/{issue_id}", response_class=HTMLResponse)
def archived_issue(
    issue_id: int,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """One sent digest as a page of the site, with a way back to the list and a subscribe call."""
    try:
        if not 1 <= issue_id <= MAX_ROW_ID:  # past what an id column holds: no such issue
            raise IssueNotFound(issue_id)
        issue = published_issue(session, issue_id)
    except IssueNotFound:
        return message_page(
            request,
            "Not found",
            "There is no such issue in the archive.",
            status=404,
            link=("/archive", "← All issues"),
        )
    content = _web_pages(request, ctx).page(session, issue)
    return with_subscribe_form(request, "issue.html", page=content, entry=content.entry)


def _web_pages(request: Request, ctx: WebContext) -> WebPages:
    """The app's archive page contents, made on first use and anew when its settings change."""
    state = request.app.state
    pages: WebPages | None = getattr(state, "archive_pages", None)
    if pages is None or pages.settings is not ctx.settings or pages.signer is not ctx.signer:
        pages = state.archive_pages = WebPages(ctx.settings, ctx.signer)
    return pages


@router.get("/r/{token}")
def follow(
    token: str, request: Request, ctx: WebContext = Depends(context), session: Session = db_session
) -> Response:
    """Redirect a tracked click to the link stored for that issue; anything else is 404.

    Counted once per client, item and day (in the rate limiter's storage: memory, or Redis when
    the broker is Redis), never for prefetchers; see app/tracking/clicks.py."""
    user_agent = request.headers.get("user-agent", "")
    purpose = request.headers.get("sec-purpose") or request.headers.get("purpose") or ""

    def counts(item_id: int) -> bool:
        if is_prefetcher(user_agent, purpose=purpose):
            return False
        secret = ctx.settings.signing_keys()[0]
        client = click_client(secret, client_ip(request), user_agent, now=clock.now())
        return ctx.limiter.hit(ONCE_A_DAY, "click", str(item_id), client)

    url = follow_click(session, signer=ctx.signer, token=token, counts=counts)
    if url is None:
        return Response("Unknown link", status_code=404, media_type="text/plain")
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
