"""Readers (search, filter, CSV import and export) and feeds (health, add, poll now)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.models import SubscriberStatus
from app.posts.feeds import FeedExists, FeedNotFound, add_feed, list_feeds, queue_poll
from app.posts.schemas import check_http_url, clean_topics
from app.readers.counts import readers_by_status
from app.readers.directory import all_readers, find_readers
from app.readers.files import BadCSV, export_subscriber_csv, parse_subscriber_csv
from app.readers.importing import import_subscribers
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import problem, render
from app.web.deps import db_session

router = APIRouter()
PAGE = 50
MAX_UPLOAD = 20_000_000


def _status(status: str) -> str | None:
    """The list's status filter: the form's "" (or anything unknown) shows every reader."""
    return status if status in SubscriberStatus.ALL else None


@router.get("/admin/readers", response_class=HTMLResponse)
def readers(
    request: Request,
    q: str = Query("", max_length=320),
    status: str = "",
    page: int = Query(1, ge=1),
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """Readers, newest first: search by address or name, filter by status, 50 a page."""
    rows, total = find_readers(
        session, query=q, status=_status(status), limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "admin/readers.html",
        admin=admin,
        rows=rows,
        total=total,
        q=q,
        chosen=status,
        page=page,
        pages=max(1, -(-total // PAGE)),
        statuses=SubscriberStatus.ALL,
        by_status=readers_by_status(session),
        report=None,
    )


@router.get("/admin/readers.csv")
def export_readers(
    q: str = Query("", max_length=320),
    status: str = "",
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> StreamingResponse:
    """The readers the list shows (same search and filter), as CSV."""
    rows = all_readers(session, query=q, status=_status(status))
    return StreamingResponse(
        export_subscriber_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="readers.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/admin/readers/import", response_class=HTMLResponse)
async def import_readers(
    request: Request, admin: AdminSession = Depends(admin_form), session: Session = db_session
) -> HTMLResponse:
    """Import a CSV as confirmed readers with a consent source; show the per-line report."""
    form = await request.form()
    upload, source = form.get("file"), str(form.get("consent_source") or "").strip()
    back = ("/admin/readers", "Back to the readers")
    if not source:
        return problem(
            request,
            admin,
            "Say where consent was given",
            "The consent source is required (e.g. 'event-signup-sheet-2026-10').",
            status=422,
            back=back,
        )
    if upload is None or isinstance(upload, str) or not upload.filename:
        return problem(
            request, admin, "No file", "Choose a CSV file to import.", status=422, back=back
        )
    try:
        rows = parse_subscriber_csv(await upload.read(MAX_UPLOAD + 1))
    except BadCSV as error:
        return problem(request, admin, "That CSV cannot be read", str(error), status=422, back=back)
    report = await run_in_threadpool(
        import_subscribers,
        session,
        rows=rows,
        consent_source=source[:80],
        now=clock.now(),
        keys=request.app.state.digest.settings.signing_keys(),
    )
    return render(
        request,
        "admin/import_report.html",
        admin=admin,
        report=report,
        source=source[:80],
        filename=upload.filename,
        lines=len(rows),
    )


@router.get("/admin/feeds", response_class=HTMLResponse)
def feeds(
    request: Request, admin: AdminSession = Depends(current_admin), session: Session = db_session
) -> HTMLResponse:
    """Feeds with when they were last fetched, how that went, and their last error."""
    rows = list_feeds(session)
    return render(request, "admin/feeds.html", admin=admin, feeds=rows, error=None, form={})


@router.post("/admin/feeds", response_class=HTMLResponse)
async def add_feed_form(
    request: Request, admin: AdminSession = Depends(admin_form), session: Session = db_session
) -> Response:
    """Add a feed to poll (its first poll is queued)."""
    form = await request.form()
    url, title = str(form.get("url") or "").strip(), str(form.get("title") or "").strip()
    topics_text = str(form.get("topics") or "")
    error, status = None, 422
    try:
        topics = clean_topics([t for t in topics_text.split(",") if t.strip()])
    except ValueError as problem_:
        error = f"Topics {problem_}"
    if error is None:
        try:
            check_http_url(url)
            add_feed(
                session,
                url=url,
                topics=topics,
                title=title or None,
                now=clock.now(),
                allow_private=request.app.state.digest.settings.feed_allow_private,
            )
        except ValueError as problem_:
            error = f"The feed URL {problem_}"
        except FeedExists as exists:
            error, status = str(exists), 409
    if error is not None:
        rows = list_feeds(session)
        values = {"url": url, "title": title, "topics": topics_text}
        return render(
            request,
            "admin/feeds.html",
            status=status,
            admin=admin,
            feeds=rows,
            error=error,
            form=values,
        )
    return RedirectResponse("/admin/feeds?done=feed-added", 303)


@router.post("/admin/feeds/{feed_id}/poll")
def poll_now(
    feed_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Queue a poll of one feed now; the result shows on the list once the worker ran it."""
    try:
        queue_poll(session, feed_id=feed_id)
    except FeedNotFound:
        return problem(request, admin, "No such feed", f"There is no feed {feed_id}.", status=404)
    return RedirectResponse("/admin/feeds?done=polling", 303)
