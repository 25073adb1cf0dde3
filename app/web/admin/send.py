"""Preview, test copies, the send confirmation, and a send's live progress with its controls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.delivery import control as send_controls
from app.delivery.engine import SendError, start_send
from app.delivery.ledger import count_recipients
from app.delivery.messenger import transport_from_settings
from app.delivery.transports import DeliveryError
from app.issues.drafts import get_issue
from app.issues.errors import IssueNotFound
from app.issues.mail import MAX_TEST_RECIPIENTS, NothingToSend, preview, send_test
from app.issues.segments import due_readers
from app.models import Issue, IssueStatus
from app.readers.counts import confirmed_readers
from app.readers.subscriptions import InvalidAddress, normalise_email
from app.tracking.sends import send_progress
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import problem, redirect_done, render
from app.web.deps import WebContext, context, db_session

router = APIRouter()
# Each control: what its refusal says it could not do, and the flash its redirect shows.
CONTROLS = {
    "pause": ("pause", "paused"),
    "resume": ("resume", "resumed"),
    "cancel": ("cancel", "cancelled"),
    "send_remaining": ("send to the rest", "sending-rest"),
}


def parse_addresses(text: str) -> tuple[list[str], list[str]]:
    """(normalised addresses, problems) from a comma/space/newline separated list."""
    raw = [part for part in text.replace(",", " ").replace(";", " ").split() if part]
    addresses, problems = [], []
    for part in raw:
        try:
            address = normalise_email(part)
        except InvalidAddress as error:
            problems.append(f"{part[:80]}: {error.reason}")
            continue
        if address not in addresses:
            addresses.append(address)
    if not raw:
        problems.append("type at least one address")
    elif len(addresses) > MAX_TEST_RECIPIENTS:
        problems.append(f"at most {MAX_TEST_RECIPIENTS} addresses per test")
    return addresses, problems


def _section(ctx: WebContext, wanted: object) -> str:
    """A section key the preview may show a reader of; "" (everything) for anything else."""
    key = str(wanted or "")[:100]
    return key if key in ctx.settings.sections.by_key else ""


def _preview_page(
    request: Request,
    admin: AdminSession,
    session: Session,
    ctx: WebContext,
    issue: Issue,
    *,
    status: int = 200,
    section: str | None = None,
    **values: Any,
) -> HTMLResponse:
    # ?sections=wind: the mail as a reader of one section (or of everything) gets it.
    if section is None:
        section = _section(ctx, request.query_params.get("sections"))
    shown = {
        "settings": ctx.settings,
        "signer": ctx.signer,
        "sections": [section] if section else [],
    }
    try:
        html = preview(session, issue, fmt="html", **shown)
        text = preview(session, issue, fmt="text", **shown)
    except NothingToSend as error:
        html, text, values["empty"] = "", "", str(error)
    values["section"] = section
    values.setdefault("addresses", admin.admin.email)
    return render(
        request,
        "admin/preview.html",
        status=status,
        admin=admin,
        issue=issue,
        html=html,
        text=text,
        **values,
    )


@router.get("/admin/issues/{issue_id}/preview", response_class=HTMLResponse)
def preview_page(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
    ctx: WebContext = Depends(context),
) -> HTMLResponse:
    """The email at 600 px and 375 px, the text part, and a test-send form."""
    issue = get_issue(session, issue_id=issue_id)
    return _preview_page(request, admin, session, ctx, issue)


@router.post("/admin/issues/{issue_id}/test", response_class=HTMLResponse)
async def test_send(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    ctx: WebContext = Depends(context),
) -> Response:
    """Mail a marked test copy to the typed addresses (not counted as a send)."""
    issue = get_issue(session, issue_id=issue_id)
    form = await request.form()
    typed = str(form.get("emails") or "")[:4000]
    section = _section(ctx, form.get("sections"))
    addresses, problems = parse_addresses(typed)
    if not problems:
        try:
            sent = await run_in_threadpool(
                send_test,
                session,
                issue,
                emails=addresses,
                settings=ctx.settings,
                signer=ctx.signer,
                transport=transport_from_settings(ctx.settings),
                now=clock.now(),
                sections=[section] if section else [],
            )
            return _preview_page(
                request,
                admin,
                session,
                ctx,
                issue,
                section=section,
                addresses=typed,
                test_sent=sent,
            )
        except (NothingToSend, ValueError, DeliveryError) as error:
            problems.append(str(error))
    return _preview_page(
        request,
        admin,
        session,
        ctx,
        issue,
        status=422,
        section=section,
        addresses=typed,
        test_problems=problems,
    )


@router.get("/admin/issues/{issue_id}/send", response_class=HTMLResponse)
def confirm_send(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> Response:
    """The confirm step: "Send to N readers?" — the readers it would mail now (paused ones and
    monthly ones outside the month's last week wait), out of the confirmed."""
    issue = get_issue(session, issue_id=issue_id)
    if issue.status != IssueStatus.DRAFT:
        return RedirectResponse(f"/admin/issues/{issue_id}/progress", 303)
    return render(
        request,
        "admin/send_confirm.html",
        admin=admin,
        issue=issue,
        readers=count_recipients(session, who=due_readers(issue.week, now=clock.now())),
        confirmed=confirmed_readers(session),
    )


@router.post("/admin/issues/{issue_id}/send", response_class=HTMLResponse)
async def start(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    ctx: WebContext = Depends(context),
) -> Response:
    """Start the send (a second click does nothing more) and go to the progress page."""
    try:
        await run_in_threadpool(
            start_send, session, issue_id=issue_id, now=clock.now(), settings=ctx.settings
        )
    except (SendError, NothingToSend) as error:
        return problem(
            request,
            admin,
            "The send did not start",
            str(error),
            status=409,
            back=(f"/admin/issues/{issue_id}", "Back to the issue"),
        )
    return RedirectResponse(f"/admin/issues/{issue_id}/progress", 303)


@router.get("/admin/issues/{issue_id}/progress", response_class=HTMLResponse)
def progress_page(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
) -> HTMLResponse:
    """The live progress bar (JS polls progress.json; without JS the page refreshes itself)."""
    issue = get_issue(session, issue_id=issue_id)
    return render(
        request,
        "admin/progress.html",
        admin=admin,
        issue=issue,
        progress=send_progress(session, issue_id=issue.id),
    )


@router.get("/admin/issues/{issue_id}/progress.json")
def progress_data(
    issue_id: int, admin: AdminSession = Depends(current_admin), session: Session = db_session
) -> JSONResponse:
    """The progress bar's numbers, polled every second."""
    try:
        progress = send_progress(session, issue_id=issue_id)
    except IssueNotFound:
        return JSONResponse({"detail": f"no issue {issue_id}"}, 404)
    return JSONResponse(progress, headers={"Cache-Control": "no-store"})


def _control(
    request: Request, admin: AdminSession, session: Session, issue_id: int, control: str
) -> Response:
    action, done = CONTROLS[control]
    try:
        getattr(send_controls, control)(session, issue_id=issue_id, now=clock.now())
    except SendError as error:
        return problem(
            request,
            admin,
            f"Could not {action}",
            str(error),
            status=409,
            back=(f"/admin/issues/{issue_id}/progress", "Back to the progress"),
        )
    return redirect_done(request, f"/admin/issues/{issue_id}/progress", done)


@router.post("/admin/issues/{issue_id}/pause", response_class=HTMLResponse)
def pause(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Pause a running send (batches in flight finish; nothing new starts)."""
    return _control(request, admin, session, issue_id, "pause")


@router.post("/admin/issues/{issue_id}/resume", response_class=HTMLResponse)
def resume(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Resume a paused send."""
    return _control(request, admin, session, issue_id, "resume")


@router.post("/admin/issues/{issue_id}/cancel", response_class=HTMLResponse)
def cancel(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Cancel a send: readers not yet mailed get nothing."""
    return _control(request, admin, session, issue_id, "cancel")


@router.post("/admin/issues/{issue_id}/send-remaining", response_class=HTMLResponse)
def send_remaining(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """ "Send to the rest" after a cancel: only the readers whose copy the cancel stopped."""
    return _control(request, admin, session, issue_id, "send_remaining")
