"""Public archive of sent digests, and the click-tracking redirect."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.issues.archive import WebPages, published_issue, published_issues
from app.issues.errors import IssueNotFound
from app.tracking.clicks import follow_click
from app.web.deps import WebContext, context, db_session
from app.web.public import message_page, page

router = APIRouter()


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request, session: Session = db_session) -> HTMLResponse:
    """Every sent digest, newest first."""
    return page(request, "archive.html", issues=published_issues(session))


@router.get("/archive/{issue_id}", response_class=HTMLResponse)
def archived_issue(
    issue_id: int,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """One sent digest as a web page (the email's own layout, without a reader's links)."""
    try:
        issue = published_issue(session, issue_id)
    except IssueNotFound:
        return message_page(
            request,
            "Not found",
            "There is no such issue in the archive.",
            status=404,
            link=("/archive", "All issues"),
        )
    return HTMLResponse(_web_pages(request, ctx).page(session, issue))


def _web_pages(request: Request, ctx: WebContext) -> WebPages:
    """The app's rendered archive pages, made on first use and anew when its settings change."""
    state = request.app.state
    pages: WebPages | None = getattr(state, "archive_pages", None)
    if pages is None or pages.settings is not ctx.settings or pages.signer is not ctx.signer:
        pages = state.archive_pages = WebPages(ctx.settings, ctx.signer)
    return pages


@router.get("/r/{token}")
def follow(
    token: str, ctx: WebContext = Depends(context), session: Session = db_session
) -> Response:
    """Redirect a tracked click to the link stored for that issue; anything else is 404."""
    url = follow_click(session, signer=ctx.signer, token=token)
    if url is None:
        return Response("Unknown link", status_code=404, media_type="text/plain")
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
