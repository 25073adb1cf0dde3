"""Readers: search, filter, CSV import and export (one reader's page is `reader`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.models import SubscriberStatus
from app.readers.counts import readers_by_status
from app.readers.directory import all_readers, find_readers
from app.readers.files import BadCSV, export_subscriber_csv, parse_subscriber_csv
from app.readers.importing import import_in_chunks
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
    report = await run_in_threadpool(  # commits chunk by chunk (`import_in_chunks`)
        import_in_chunks,
        session,
        commit=session.commit,
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
