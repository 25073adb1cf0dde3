"""Sending over the admin API: send, pause, resume, cancel, send to the rest, preview and test
copies of an issue."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from app import clock
from app.delivery.control import cancel, pause, progress, resume, send_remaining
from app.delivery.engine import load_issue, start_send
from app.delivery.messenger import transport_from_settings
from app.delivery.schemas import PreviewFormat, Progress, TestCopiesIn, TestCopiesSent
from app.delivery.transports import DeliveryError
from app.errors import Refused
from app.issues.mail import TEST_PREFIX, preview, send_test
from app.web.deps import ContextDep, SessionDep, body_or_empty, json_body_routes
from app.web.errors import API_REFUSALS, json_refusals, refusals
from app.web.params import RowId

router = APIRouter(tags=["sending"], route_class=json_body_routes(limit=100_000))
NO_ISSUE = {404: "no issue with that id"}
REFUSED = refusals({**NO_ISSUE, 409: "the issue's state does not allow it"})


@router.post("/issues/{issue_id}/send", status_code=202, responses=REFUSED)
def send_issue(issue_id: RowId, session: SessionDep, ctx: ContextDep) -> Progress:
    """Start the send (202 with the ledger counts); a second call changes nothing."""
    start_send(session, issue_id=issue_id, now=clock.now(), settings=ctx.settings)
    return Progress.model_validate(progress(session, issue_id))


@router.post("/issues/{issue_id}/pause", responses=REFUSED)
def pause_send(issue_id: RowId, session: SessionDep) -> Progress:
    """Pause a running send; batches stop at their next checkpoint."""
    pause(session, issue_id=issue_id, now=clock.now())
    return Progress.model_validate(progress(session, issue_id))


@router.post("/issues/{issue_id}/resume", responses=REFUSED)
def resume_send(issue_id: RowId, session: SessionDep) -> Progress:
    """Resume a paused send."""
    resume(session, issue_id=issue_id, now=clock.now())
    return Progress.model_validate(progress(session, issue_id))


@router.post("/issues/{issue_id}/cancel", responses=REFUSED)
def cancel_send(issue_id: RowId, session: SessionDep) -> Progress:
    """Cancel a send: readers not yet mailed get nothing."""
    cancel(session, issue_id=issue_id, now=clock.now())
    return Progress.model_validate(progress(session, issue_id))


@router.post("/issues/{issue_id}/send-remaining", status_code=202, responses=REFUSED)
def send_to_the_rest(issue_id: RowId, session: SessionDep) -> Progress:
    """After a cancel, mail exactly the readers whose copy it stopped (`cancelled` rows), nobody
    twice; a second call changes nothing. 409 unless the send was cancelled with readers left."""
    send_remaining(session, issue_id=issue_id, now=clock.now())
    return Progress.model_validate(progress(session, issue_id))


@router.get("/issues/{issue_id}/progress", responses=refusals(NO_ISSUE))
def issue_progress(issue_id: RowId, session: SessionDep) -> Progress:
    """The issue's status and its ledger counted by state."""
    return Progress.model_validate(progress(session, issue_id))


@router.get(
    "/issues/{issue_id}/preview",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "the HTML part, or with `format=text` the text part",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **json_refusals({**API_REFUSALS, **NO_ISSUE}),
    },
)
def preview_issue(
    issue_id: RowId,
    session: SessionDep,
    ctx: ContextDep,
    fmt: Annotated[PreviewFormat, Query(alias="format")] = "html",
    sections: Annotated[
        str,
        Query(
            max_length=600,
            description="comma-separated sections (keys or labels): the list their reader gets",
        ),
    ] = "",
    cadence: Annotated[Literal["weekly", "monthly"], Query()] = "weekly",
) -> Response:
    """The email as a reader sees it, `format=html` or `format=text`; with `sections` and
    `cadence`, as a reader of that choice sees it."""
    issue = load_issue(session, issue_id)
    chosen = [name for name in sections.split(",") if name.strip()]
    body = preview(
        session,
        issue,
        settings=ctx.settings,
        signer=ctx.signer,
        fmt=fmt,
        sections=chosen,
        cadence=cadence,
    )
    return HTMLResponse(body) if fmt == "html" else PlainTextResponse(body)


@router.post(
    "/issues/{issue_id}/test",
    responses={**REFUSED, **refusals({502: "the mail server refused the test copy"})},
)
def test_issue(
    issue_id: RowId,
    body: Annotated[TestCopiesIn, body_or_empty()],
    session: SessionDep,
    ctx: ContextDep,
) -> TestCopiesSent:
    """Mail a "[TEST]" copy now, directly (not via a task), so the editor sees any SMTP error."""
    issue = load_issue(session, issue_id)
    try:
        sent = send_test(
            session,
            issue,
            emails=body.emails,
            settings=ctx.settings,
            signer=ctx.signer,
            transport=transport_from_settings(ctx.settings),
            now=clock.now(),
        )
    except DeliveryError as error:
        raise Refused(f"the test copy was not sent: {error}") from error
    return TestCopiesSent(sent=sent, subject=TEST_PREFIX + issue.subject)
