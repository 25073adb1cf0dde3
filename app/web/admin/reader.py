"""One reader's page: details, consent record and deliveries; unsubscribing them, the data
export and erasure (SPEC §10 GDPR)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.models import Subscriber
from app.readers.privacy import ReaderNotFound, erase_reader, export_reader
from app.readers.subscriptions import Requester, unsubscribe
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import redirect_done, render
from app.web.deps import db_session
from app.web.params import RowId

router = APIRouter()


def _page(
    request: Request, admin: AdminSession, session: Session, subscriber_id: int, **extra: object
) -> HTMLResponse:
    reader = export_reader(session, subscriber_id, now=clock.now())
    values = {"error": None, "status": 200, **extra}
    return render(request, "admin/reader.html", admin=admin, reader=reader, **values)


@router.get("/admin/readers/{subscriber_id}", response_class=HTMLResponse)
def reader_page(
    subscriber_id: int,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """The reader's details, consent record and mail, with the export and the erase form."""
    return _page(request, admin, session, subscriber_id)


@router.get("/admin/readers/{subscriber_id}/export.json")
def reader_export(
    subscriber_id: int,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> Response:
    """The reader's data as a JSON download, the same document as the API's export."""
    data = export_reader(session, subscriber_id, now=clock.now())
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="reader-{subscriber_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/admin/readers/{subscriber_id}/erase", response_class=HTMLResponse)
async def erase(
    subscriber_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Erase the reader once the admin typed their address; the erasure cannot be undone."""
    typed = str((await request.form()).get("confirm_address") or "").strip().lower()
    reader = export_reader(session, subscriber_id, now=clock.now())
    if reader["address"] is not None and typed != reader["address"]:
        why = "Type the reader's address exactly to confirm; nothing was erased."
        return _page(request, admin, session, subscriber_id, error=why, status=422)
    settings = request.app.state.digest.settings
    await run_in_threadpool(
        erase_reader, session, subscriber_id, settings=settings, now=clock.now(), channel="admin"
    )
    return redirect_done(request, f"/admin/readers/{subscriber_id}", "erased")


@router.post("/admin/readers/{subscriber_id}/unsubscribe")
def unsubscribe_reader(
    subscriber_id: RowId,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Unsubscribe the reader for them (they asked by mail or phone); the consent record keeps it
    as a withdrawal through the channel `admin`. A reader who is not subscribed stays as is."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise ReaderNotFound(subscriber_id)
    changed = unsubscribe(
        session, subscriber=subscriber, requester=Requester(channel="admin"), now=clock.now()
    )
    if not changed:
        return RedirectResponse(f"/admin/readers/{subscriber_id}", 303)
    return redirect_done(request, f"/admin/readers/{subscriber_id}", "unsubscribed")
