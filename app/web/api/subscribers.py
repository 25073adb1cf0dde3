"""Readers over the admin API: list, import (JSON or CSV), export."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.models import Subscriber, SubscriberStatus
from app.readers.files import BadCSV, export_subscriber_csv, parse_subscriber_csv
from app.readers.importing import import_subscribers
from app.web.deps import db_session

router = APIRouter(tags=["subscribers"])
MAX_IMPORT_BYTES = 20_000_000


def subscriber_json(subscriber: Subscriber) -> dict[str, Any]:
    """A reader as the API shows it."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "source": subscriber.source,
        "created_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at and subscriber.confirmed_at.isoformat(),
        "unsubscribed_at": subscriber.unsubscribed_at and subscriber.unsubscribed_at.isoformat(),
    }


def _status_filter(status: str | None) -> list[Any]:
    if status is None:
        return []
    if status not in SubscriberStatus.ALL:
        raise BadRequest(f"status must be one of {', '.join(SubscriberStatus.ALL)}")
    return [Subscriber.status == status]


class BadRequest(Exception):
    """A query or body the API cannot use; answered with 422 and the reason."""


@router.get("/subscribers")
def list_subscribers(
    status: str | None = None,
    q: str | None = Query(None, max_length=320, description="substring of the address or name"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = db_session,
) -> JSONResponse:
    """Readers, newest first, optionally filtered by status and a search string."""
    try:
        conditions = _status_filter(status)
    except BadRequest as error:
        return JSONResponse({"detail": str(error)}, 422)
    if q:
        pattern = f"%{q.lower()}%"
        conditions.append(
            Subscriber.email.like(pattern) | func.lower(Subscriber.name).like(pattern)
        )
    total = session.scalar(select(func.count()).select_from(Subscriber).where(*conditions))
    rows = session.scalars(
        select(Subscriber)
        .where(*conditions)
        .order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return JSONResponse(
        {
            "items": [subscriber_json(row) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@router.get("/subscribers/export")
def export_subscribers(status: str | None = None, session: Session = db_session) -> Any:
    """All readers (or those with `status`) as CSV."""
    try:
        conditions = _status_filter(status)
    except BadRequest as error:
        return JSONResponse({"detail": str(error)}, 422)
    rows = session.scalars(select(Subscriber).where(*conditions).order_by(Subscriber.id)).all()
    return StreamingResponse(
        export_subscriber_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )


@router.post("/subscribers/import")
async def import_subscribers_route(request: Request, session: Session = db_session) -> JSONResponse:
    """Import readers as confirmed, recording the consent source; bad rows are reported by line."""
    try:
        consent_source, rows = await _read_import(request)
    except BadRequest as error:
        return JSONResponse({"detail": str(error)}, 422)
    except BadCSV as error:
        return JSONResponse({"detail": f"CSV: {error}"}, 422)
    report = await run_in_threadpool(
        import_subscribers, session, rows=rows, consent_source=consent_source, now=clock.now()
    )
    return JSONResponse(report.as_dict())


async def _read_import(request: Request) -> tuple[str, list[tuple[int, str, str | None]]]:
    """(consent source, numbered rows) from a JSON body, a multipart upload or a raw CSV body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if int(request.headers.get("content-length") or 0) > MAX_IMPORT_BYTES:
        raise BadRequest("the upload is too large")
    if content_type == "application/json":
        return _json_import(await request.body())
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest("attach the CSV as the form field 'file'")
        source = _consent_source(form.get("consent_source"))
        return source, parse_subscriber_csv(await upload.read(MAX_IMPORT_BYTES + 1))
    if content_type in ("text/csv", "text/plain"):
        source = _consent_source(request.query_params.get("consent_source"))
        return source, parse_subscriber_csv(await request.body())
    raise BadRequest("send JSON, a multipart upload with 'file', or text/csv")


def _consent_source(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(
            "consent_source is required: say where these readers gave consent "
            "(e.g. 'event-signup-sheet-2026-10')"
        )
    return value.strip()[:80]


def _json_import(body: bytes) -> tuple[str, list[tuple[int, str, str | None]]]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("subscribers"), list):
        raise BadRequest('expected {"consent_source": "...", "subscribers": [{"email", "name"?}]}')
    source = _consent_source(data.get("consent_source"))
    rows: list[tuple[int, str, str | None]] = []
    for number, item in enumerate(data["subscribers"], start=1):
        if isinstance(item, dict):
            email, name = item.get("email"), item.get("name")
        else:
            email, name = None, None
        rows.append(
            (
                number,
                email if isinstance(email, str) else "",
                name if isinstance(name, str) else None,
            )
        )
    return source, rows
