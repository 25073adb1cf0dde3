"""The reader's preference centre: `GET /manage/{token}` shows, `POST /manage/{token}` changes.

The signed, dated token from the reader's latest mail is the secret (`subscriber_for_manage`),
as on the confirm and unsubscribe pages: no login and no cookie, so the link works in any
browser; a cross-site POST is refused by its Origin. Mail scanners prefetch GETs, so a GET
changes nothing. A form POST answers with a redirect to the page (so a reload does not post
again) whose `done` names what happened; the line it shows is made from the stored state, so a
hand-made `?done=` can only repeat the truth. JSON POSTs get the reader's preferences back.
The rules live in `app.readers.preferences`; this module parses and renders.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from app import clock
from app.errors import DigestError
from app.models import Cadence, Subscriber, SubscriberStatus
from app.readers.links import PREVIEW_TOKEN
from app.readers.preferences import (
    MAX_PAUSE_WEEKS,
    MIN_PAUSE_WEEKS,
    Change,
    Preferences,
    apply_change,
    preferences_of,
)
from app.readers.privacy import export_reader
from app.readers.subscriptions import Requester, subscriber_for_manage
from app.tokens import InvalidToken
from app.web.deps import WebContext, capped_request, client_ip, context, db_session
from app.web.errors import readable, status_of
from app.web.public import FORM_TYPES, message_page, origin_allowed, page

router = APIRouter()
MAX_BODY = 16_384
DONE = ("saved", "unchanged", "paused", "resumed", "not-paused", "unsubscribed")


class BadManageRequest(Exception):
    """A POST to the preference centre that cannot be read; `status` and `reason` say why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PreferencesIn(BaseModel):
    """A JSON change: `{"topics": [...], "cadence": "monthly"}` (either or both),
    `{"pause_weeks": 3}`, `{"resume": true}` or `{"unsubscribe": true}` — one kind at a time."""

    model_config = ConfigDict(extra="forbid")

    topics: list[Any] | None = None
    cadence: Any = None
    pause_weeks: Any = None
    resume: bool | None = None
    unsubscribe: bool | None = None

    def change(self) -> Change:
        """The one change this body asks for; BadManageRequest if none or several."""
        asked = [
            name
            for name, given in (
                ("save", self.topics is not None or self.cadence is not None),
                ("pause", self.pause_weeks is not None),
                ("resume", bool(self.resume)),
                ("unsubscribe", bool(self.unsubscribe)),
            )
            if given
        ]
        if len(asked) != 1:
            raise BadManageRequest(
                422,
                'Send one change: {"topics": [...], "cadence": "weekly|monthly"}, '
                '{"pause_weeks": 1-8}, {"resume": true} or {"unsubscribe": true}.',
            )
        return Change(asked[0], topics=self.topics, cadence=self.cadence, weeks=self.pause_weeks)


def _max_age(ctx: WebContext) -> timedelta:
    return timedelta(days=ctx.settings.manage_link_days)


def _broken_link(request: Request, token: str, error: InvalidToken) -> HTMLResponse:
    """The 400 page of a link that names nobody; it says how to get a working one."""
    reason = (
        "This is the preview of a mail: in a reader's copy this link opens their own preferences."
        if token == PREVIEW_TOKEN
        else error.reason
    )
    return message_page(
        request,
        "This link doesn't work",
        reason,
        f"Preference links last {_max_age(request.app.state.digest).days} days: the link in your"
        " latest digest always works. Nothing was changed.",
        status=400,
        link=("/", "Back to the start"),
    )


def _reader(session: Session, ctx: WebContext, token: str) -> Subscriber:
    return subscriber_for_manage(
        session, signer=ctx.signer, token=token, now=clock.now(), max_age=_max_age(ctx)
    )


def _done_line(done: str | None, prefs: Preferences) -> str | None:
    """The one-line confirmation after a change, said from what is stored now."""
    if done == "saved":
        return f"Saved: you get {prefs.summary}."
    if done == "unchanged":
        return f"Nothing to change: you already get {prefs.summary}."
    if done == "paused" and prefs.paused_until:
        return f"Paused: no digest until {_day(prefs.paused_until)}."
    if done in ("resumed", "not-paused") and not prefs.paused_until:
        return "Your digest is on: the next one comes as usual."
    if done == "unsubscribed" and prefs.status == SubscriberStatus.UNSUBSCRIBED:
        return f"You're unsubscribed: {prefs.email} will get no more digests."
    return None


def _day(moment: datetime) -> str:
    """ "Monday 14 December 2026": the day a pause ends, as people write it."""
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _show(
    request: Request,
    token: str,
    subscriber: Subscriber,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
    ticked: list[str] | None = None,
) -> HTMLResponse:
    """The preference centre page; `ticked` keeps what the reader ticked after a refusal."""
    ctx: WebContext = request.app.state.digest
    prefs = preferences_of(subscriber, ctx.settings.sections, now=clock.now())
    response = page(
        request,
        "manage.html",
        status,
        token=token,
        prefs=prefs,
        done=_done_line(done, prefs),
        error=error,
        ticked=set(prefs.sections if ticked is None else ticked),
        on_list=prefs.status in SubscriberStatus.SUBSCRIBED,
        paused_until=_day(prefs.paused_until) if prefs.paused_until else None,
        weeks=range(MIN_PAUSE_WEEKS, MAX_PAUSE_WEEKS + 1),
        cadences=Cadence.ALL,
    )
    # The page holds the reader's address and a link that acts for them: never cache it, never
    # send its address to another site. Not "no-referrer": the browser then posts the forms
    # with "Origin: null", which the cross-site check refuses.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.get("/manage/{token}", response_class=HTMLResponse)
def manage_page(
    token: str,
    request: Request,
    done: str | None = None,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> HTMLResponse:
    """Show the reader's preferences; changes nothing (mail scanners prefetch links)."""
    try:
        subscriber = _reader(session, ctx, token)
    except InvalidToken as error:
        return _broken_link(request, token, error)
    return _show(request, token, subscriber, done=done if done in DONE else None)


async def _read_change(request: Request) -> tuple[Change, bool]:
    """The change a POST asks for, and whether it came as JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    too_large = BadManageRequest(413, f"The request is too large (at most {MAX_BODY:,} bytes).")
    capped = capped_request(request, MAX_BODY, too_large)
    if content_type == "application/json":
        try:
            data = json.loads(await capped.body())
        except RecursionError as error:
            raise BadManageRequest(400, "The JSON is nested too deeply.") from error
        except (ValueError, UnicodeDecodeError) as error:
            raise BadManageRequest(400, f"The body is not valid JSON: {error}") from error
        try:
            return PreferencesIn.model_validate(data).change(), True
        except ValidationError as error:
            raise BadManageRequest(422, readable(error.errors())) from error
    if content_type in FORM_TYPES:
        try:
            form = await capped.form(max_files=0, max_fields=30)
        except HTTPException as error:  # Starlette's refusal of a malformed multipart body
            raise BadManageRequest(error.status_code, str(error.detail)) from error
        return _form_change(form), False
    raise BadManageRequest(
        415, "Send the form (application/x-www-form-urlencoded) or JSON (application/json)."
    )


def _form_change(form: FormData) -> Change:
    """The page's forms: `action` and that action's fields (an unknown action is refused later)."""
    action = str(form.get("action") or "")
    if action == "save":
        topics: list[object] = [value for value in form.getlist("topics") if isinstance(value, str)]
        return Change("save", topics=topics, cadence=form.get("cadence"))
    if action == "pause":
        return Change("pause", weeks=form.get("weeks"))
    return Change(action or "(none)")


def _export(session: Session, subscriber: Subscriber) -> Response:
    """The reader's data as a JSON download: the same document the admin's export gives."""
    data = export_reader(session, subscriber.id, now=clock.now())
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-digest-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/manage/{token}")
async def change_preferences(
    token: str,
    request: Request,
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> Response:
    """Change one preference (save, pause, resume, unsubscribe) or export the reader's data.

    A bad token is 400 and a refused change 409/422, both with nothing changed: every input is
    checked by `apply_change` before anything is set."""
    wants_json = request.headers.get("content-type", "").startswith("application/json")
    if not origin_allowed(request, ctx):
        return _refuse(request, 403, "This change was sent from another site.", wants_json)
    try:
        subscriber = _reader(session, ctx, token)
    except InvalidToken as error:
        if wants_json:
            return JSONResponse({"error": "invalid-link", "detail": error.reason}, 400)
        return _broken_link(request, token, error)
    try:
        change, wants_json = await _read_change(request)
    except BadManageRequest as error:
        if wants_json:
            return JSONResponse({"error": "refused", "detail": error.reason}, error.status)
        return _show(request, token, subscriber, status=error.status, error=error.reason)
    if change.action == "export" and not wants_json:
        return _export(session, subscriber)
    requester = Requester(
        ip=client_ip(request), user_agent=request.headers.get("user-agent"), channel="manage"
    )
    try:
        done = apply_change(
            session,
            subscriber,
            change,
            sections=ctx.settings.sections,
            requester=requester,
            now=clock.now(),
        )
    except DigestError as error:
        if wants_json:
            return JSONResponse({"error": "refused", "detail": str(error)}, status_of(error))
        ticked = [str(t) for t in change.topics] if change.topics is not None else None
        return _show(
            request, token, subscriber, status=status_of(error), error=str(error), ticked=ticked
        )
    if wants_json:
        prefs = preferences_of(subscriber, ctx.settings.sections, now=clock.now())
        return JSONResponse({**prefs.as_json(), "done": done})
    return RedirectResponse(f"/manage/{token}?done={done}", status_code=303)


def _refuse(request: Request, status: int, reason: str, wants_json: bool) -> Response:
    if wants_json:
        return JSONResponse({"error": "refused", "detail": reason}, status)
    return message_page(request, "Sorry", reason, status=status)
