"""Issues over the admin API: draft or refresh a week, list, show, edit and delete a draft."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app import clock
from app.issues.drafts import delete_draft, prepare_draft, requested_week, update_issue
from app.issues.output import issue_out, issue_page, show_issue
from app.issues.schemas import DraftIn, IssueEditIn, IssueOut, IssuePage
from app.web.deps import SessionDep, SettingsDep, body_or_empty, json_body_routes
from app.web.errors import refusals
from app.web.params import Offset, RowId

router = APIRouter(tags=["issues"], route_class=json_body_routes(limit=1_000_000))
NO_ISSUE = refusals({404: "no issue with that id"})
LOCKED = refusals({409: "the issue is no longer a draft"})


@router.post(
    "/issues", responses={201: {"model": IssueOut, "description": "a new draft"}, **LOCKED}
)
def draft_issue_route(
    body: Annotated[DraftIn, body_or_empty()],
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> IssueOut:
    """Rank a week now and create (201) or refresh (200) its draft."""
    now = clock.now()
    week = requested_week(body.week, now=now)
    drafted = prepare_draft(session, week=week, now=now, settings=settings)
    response.status_code = 201 if drafted.created else 200
    return issue_out(session, drafted.issue, ranking=drafted.ranking, settings=settings, now=now)


@router.get("/issues")
def list_issues_route(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Offset = 0,
) -> IssuePage:
    """Issues, newest week first, each with its items and delivery counts."""
    return issue_page(session, limit=limit, offset=offset)


@router.get("/issues/{issue_id}", responses=NO_ISSUE)
def get_issue_route(issue_id: RowId, session: SessionDep, settings: SettingsDep) -> IssueOut:
    """One issue; a draft also shows the posts left out and why."""
    return show_issue(session, issue_id=issue_id, settings=settings, now=clock.now())


@router.patch("/issues/{issue_id}", responses={**NO_ISSUE, **LOCKED})
def update_issue_route(
    issue_id: RowId,
    edit: Annotated[IssueEditIn, body_or_empty()],
    session: SessionDep,
    settings: SettingsDep,
) -> IssueOut:
    """Pin, drop (and unpin, undrop) posts, or change the subject or intro of a draft."""
    update_issue(session, issue_id=issue_id, **edit.changes(), now=clock.now(), settings=settings)
    return show_issue(session, issue_id=issue_id, settings=settings, now=clock.now())


@router.delete(
    "/issues/{issue_id}",
    status_code=204,
    responses={**NO_ISSUE, **refusals({409: "only a draft can be deleted"})},
)
def delete_issue_route(issue_id: RowId, session: SessionDep) -> Response:
    """Delete a draft (204); an issue whose send started is kept, with its history (409)."""
    delete_draft(session, issue_id=issue_id)
    return Response(status_code=204)
