"""Sending over the admin API: send, pause, resume, cancel, preview and test copies of an issue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.delivery import (
    IssueNotFound,
    SendRefused,
    cancel,
    pause,
    progress,
    resume,
    start_send,
)
from app.delivery.engine import load_issue
from app.delivery.transports import DeliveryError, transport_from_settings
from app.issues.mail import (
    MAX_TEST_RECIPIENTS,
    PREVIEW_FORMATS,
    TEST_PREFIX,
    NothingToSend,
    preview,
    send_test,
)
from app.readers.subscriptions import InvalidAddress, normalise_email
from app.web.deps import WebContext, context, db_session, read_json_body

router = APIRouter(tags=["sending"])
MAX_BODY_BYTES = 100_000


def _refusals(action: Any) -> Any:
    """Run a send operation; map its refusals to HTTP answers (404, 409)."""
    try:
        return action()
    except IssueNotFound as error:
        raise HTTPException(404, str(error)) from error
    except (SendRefused, NothingToSend) as error:
        raise HTTPException(409, str(error)) from error


@router.post("/issues/{issue_id}/send", status_code=202)
async def send_issue(
    issue_id: int, session: Session = db_session, ctx: WebContext = Depends(context)
) -> JSONResponse:
    """Start the send (202 with the ledger counts); a second call changes nothing."""

    def start() -> dict[str, Any]:
        start_send(session, issue_id=issue_id, now=clock.now(), settings=ctx.settings)
        return progress(session, issue_id)

    return JSONResponse(await run_in_threadpool(_refusals, start), status_code=202)


def _control(operation: Any) -> Any:
    """A route for pause/resume/cancel: 200 with the progress, 404 or 409."""

    def route(issue_id: int, session: Session = db_session) -> JSONResponse:
        def act() -> dict[str, Any]:
            operation(session, issue_id=issue_id, now=clock.now())
            return progress(session, issue_id)

        return JSONResponse(_refusals(act))

    route.__doc__ = f"{operation.__name__.capitalize()} a running send."
    return route


for _name, _operation in (("pause", pause), ("resume", resume), ("cancel", cancel)):
    router.add_api_route(
        f"/issues/{{issue_id}}/{_name}", _control(_operation), methods=["POST"], name=_name
    )


@router.get("/issues/{issue_id}/progress")
def issue_progress(issue_id: int, session: Session = db_session) -> JSONResponse:
    """The issue's status and its ledger counted by state."""
    return JSONResponse(_refusals(lambda: progress(session, issue_id)))


@router.get("/issues/{issue_id}/preview")
def preview_issue(
    issue_id: int,
    fmt: str = Query("html", alias="format"),
    session: Session = db_session,
    ctx: WebContext = Depends(context),
) -> Response:
    """The email as a reader sees it, `format=html` or `format=text`."""
    if fmt not in PREVIEW_FORMATS:
        raise HTTPException(422, f"format must be html or text, not {fmt!r}")
    issue = _refusals(lambda: load_issue(session, issue_id))
    body = preview(session, issue, settings=ctx.settings, signer=ctx.signer, fmt=fmt)
    return HTMLResponse(body) if fmt == "html" else PlainTextResponse(body)


async def _test_addresses(request: Request) -> list[str]:
    """`{"emails": [...]}`: 1 to 10 valid addresses (normalised, duplicates dropped), else 422."""
    data = await read_json_body(request, limit=MAX_BODY_BYTES, empty={})
    emails = data.get("emails") if isinstance(data, dict) else None
    if not isinstance(emails, list) or not emails or len(emails) > MAX_TEST_RECIPIENTS:
        raise HTTPException(
            422, f'send {{"emails": [...]}} with 1 to {MAX_TEST_RECIPIENTS} addresses'
        )
    addresses, problems = [], []
    for raw in emails:
        try:
            address = normalise_email(raw if isinstance(raw, str) else "")
        except InvalidAddress as error:
            problems.append(f"{raw!r}: {error.reason}")
            continue
        if address not in addresses:
            addresses.append(address)
    if problems:
        raise HTTPException(422, "invalid addresses: " + "; ".join(problems))
    return addresses


@router.post("/issues/{issue_id}/test")
async def test_issue(
    issue_id: int,
    request: Request,
    session: Session = db_session,
    ctx: WebContext = Depends(context),
) -> JSONResponse:
    """Mail a "[TEST]" copy now, directly (not via a task), so the editor sees any SMTP error."""
    addresses = await _test_addresses(request)

    def deliver() -> dict[str, Any]:
        issue = load_issue(session, issue_id)
        try:
            sent = send_test(
                session,
                issue,
                emails=addresses,
                settings=ctx.settings,
                signer=ctx.signer,
                transport=transport_from_settings(ctx.settings),
                now=clock.now(),
            )
        except DeliveryError as error:
            raise HTTPException(502, f"the test copy was not sent: {error}") from error
        return {"sent": sent, "subject": TEST_PREFIX + issue.subject}

    return JSONResponse(await run_in_threadpool(_refusals, deliver))
