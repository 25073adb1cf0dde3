"""Issues over the admin API: draft or refresh a week, list, show, and edit a draft."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.config import Settings
from app.issues.drafts import (
    InvalidEdit,
    IssueLocked,
    IssueNotFound,
    delivery_counts,
    get_issue,
    issue_json,
    list_issues,
    prepare_draft,
    review_ranking,
    update_issue,
)
from app.models import IssueStatus
from app.web.deps import db_session, read_json_body, settings_dep
from app.weeks import last_complete_week, parse_week, week_window

router = APIRouter(tags=["issues"])
MAX_BODY_BYTES = 1_000_000
LIST_KEYS = ("pin", "drop", "unpin", "undrop")
EDIT_KEYS = (*LIST_KEYS, "subject", "intro")


async def _json_object(request: Request, *, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The body as a JSON object (empty body = {}): 400 if it is not JSON, 422 if not usable."""
    data = await read_json_body(request, limit=MAX_BODY_BYTES, empty={})
    if not isinstance(data, dict):
        raise HTTPException(422, "the body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise HTTPException(
            422, f"unknown fields: {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )
    return data


def _week(data: dict[str, Any]) -> str:
    """The requested ISO week, or the last complete one; weeks not yet begun are refused."""
    week = data.get("week")
    if week is None:
        return last_complete_week(clock.now())
    if not isinstance(week, str):
        raise HTTPException(422, 'week must be a string like "2026-W48"')
    try:
        year, number = parse_week(week)
    except ValueError as error:
        raise HTTPException(422, str(error)) from error
    normalised = f"{year:04d}-W{number:02d}"
    if week_window(normalised)[0] > clock.now():
        raise HTTPException(422, f"{normalised} has not begun yet")
    return normalised


def _id_list(data: dict[str, Any], key: str) -> list[int] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) and item > 0 for item in value
    ):
        raise HTTPException(422, f"{key} must be a list of post ids")
    return value


@router.post("/issues")
async def draft_issue_route(
    request: Request, session: Session = db_session, settings: Settings = Depends(settings_dep)
) -> JSONResponse:
    """Rank a week now and create (201) or refresh (200) its draft."""
    week = _week(await _json_object(request, allowed=("week",)))

    def draft() -> tuple[dict[str, Any], bool]:
        try:
            drafted = prepare_draft(session, week=week, now=clock.now(), settings=settings)
        except IssueLocked as error:
            raise HTTPException(409, str(error)) from error
        return issue_json(session, drafted.issue, ranking=drafted.ranking), drafted.created

    data, created = await run_in_threadpool(draft)
    return JSONResponse(data, 201 if created else 200)


@router.get("/issues")
def list_issues_route(
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0),
    session: Session = db_session,
) -> JSONResponse:
    """Issues, newest week first, each with its items and delivery counts."""
    issues, total = list_issues(session, limit=limit, offset=offset)
    counts = delivery_counts(session, [issue.id for issue in issues])
    items = [issue_json(session, issue, counts=counts[issue.id]) for issue in issues]
    return JSONResponse({"items": items, "total": total, "limit": limit, "offset": offset})


@router.get("/issues/{issue_id}")
def get_issue_route(
    issue_id: int, session: Session = db_session, settings: Settings = Depends(settings_dep)
) -> JSONResponse:
    """One issue; a draft also shows the posts left out and why."""
    try:
        issue = get_issue(session, issue_id=issue_id)
    except IssueNotFound as error:
        raise HTTPException(404, str(error)) from error
    ranking = None
    if issue.status == IssueStatus.DRAFT:
        ranking = review_ranking(session, issue=issue, settings=settings)
    return JSONResponse(issue_json(session, issue, ranking=ranking))


@router.patch("/issues/{issue_id}")
async def update_issue_route(
    issue_id: int,
    request: Request,
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> JSONResponse:
    """Pin, drop (and unpin, undrop) posts, or change the subject or intro of a draft."""
    data = await _json_object(request, allowed=EDIT_KEYS)
    if not data:
        raise HTTPException(422, f"send at least one of: {', '.join(EDIT_KEYS)}")
    lists = {key: _id_list(data, key) for key in LIST_KEYS}
    for key in ("subject", "intro"):
        if key in data and not isinstance(data[key], str):
            raise HTTPException(422, f"{key} must be a string")

    def edit() -> dict[str, Any]:
        try:
            update_issue(
                session,
                issue_id=issue_id,
                **lists,
                subject=data.get("subject"),
                intro=data.get("intro"),
                now=clock.now(),
                settings=settings,
            )
            issue = get_issue(session, issue_id=issue_id)
        except IssueNotFound as error:
            raise HTTPException(404, str(error)) from error
        except IssueLocked as error:
            raise HTTPException(409, str(error)) from error
        except InvalidEdit as error:
            raise HTTPException(422, str(error)) from error
        ranking = review_ranking(session, issue=issue, settings=settings)
        return issue_json(session, issue, ranking=ranking)

    return JSONResponse(await run_in_threadpool(edit))
