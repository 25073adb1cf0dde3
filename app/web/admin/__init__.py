"""The admin UI (server-rendered pages behind a login) and `/metrics`; `install` adds both."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app import clock
from app.tracking.metrics import CONTENT_TYPE, render_metrics
from app.web.admin import (
    auth,
    dashboard,
    feeds,
    history,
    outbox,
    reader,
    readers,
    review,
    send,
    sources,
)
from app.web.admin.auth import CsrfRefused, LoginRequired, login_redirect, read_session
from app.web.admin.pages import render
from app.web.deps import WebContext, client_ip, context, db_session

router = APIRouter(include_in_schema=False)
for module in (auth, dashboard, review, send, history, readers, feeds, reader, outbox, sources):
    router.include_router(module.router)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_allowed(request: Request, ctx: WebContext, session: Session) -> bool:
    """Open to loopback; from elsewhere it needs the admin bearer token or an admin session.

    A request that came through a proxy (it carries X-Forwarded-For) is not a local one, even
    when the proxy runs on this machine and DIGEST_TRUSTED_PROXIES is unset.
    """
    if _loopback(client_ip(request)) and "x-forwarded-for" not in request.headers:
        return True
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    token = ctx.settings.admin_token
    if token and scheme.lower() == "bearer":
        return hmac.compare_digest(presented.strip().encode(), token.encode())
    return read_session(request, ctx, session) is not None


@router.get("/metrics")
def metrics(
    request: Request, ctx: WebContext = Depends(context), session: Session = db_session
) -> Response:
    """Prometheus metrics: readers, deliveries by state, send rate, failures."""
    if not metrics_allowed(request, ctx, session):
        return Response(
            "metrics need Authorization: Bearer $DIGEST_ADMIN_TOKEN (or a loopback client)\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(render_metrics(session, now=clock.now()), media_type=CONTENT_TYPE)


def _csrf_refused(request: Request, _error: Exception) -> HTMLResponse:
    return render(
        request,
        "admin/problem.html",
        status=403,
        admin=None,
        heading="Form expired",
        message="This form is missing its security token or it expired. Nothing was changed. "
        "Go back, reload the page and try again.",
        back=("/admin", "Back to the dashboard"),
    )


def _login_required(_request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return login_redirect(error.next_path)


def install(app: FastAPI) -> None:
    """Add the admin pages and /metrics to `app`, with the handlers their errors need."""
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
