"""Admin login sessions: a signed cookie naming a server-side session, CSRF tokens bound to it,
login (limited per address and per account), logout and "log out everywhere"."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.accounts import (
    SESSION_LIFETIME,
    authenticate,
    open_session,
    revoke_all_sessions,
    revoke_session,
    session_admin,
    session_key,
)
from app.models import AdminUser
from app.tokens import ADMIN_SESSION, CSRF, InvalidToken
from app.web.admin.pages import render
from app.web.deps import (
    RateLimited,
    WebContext,
    check_failures,
    check_rate,
    client_ip,
    context,
    count_failure,
    db_session,
)

SESSION_COOKIE = "digest_admin"
LOGIN_COOKIE = "digest_admin_login"  # binds the login form's CSRF token before a session exists
SESSION_SECONDS = int(SESSION_LIFETIME.total_seconds())
LOGIN_FORM_SECONDS = 3600

router = APIRouter()


class LoginRequired(Exception):
    """No valid admin session: the handler redirects (303) to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form came without the CSRF token of this session: 403, nothing changes."""


@dataclass(frozen=True)
class AdminSession:
    """The logged-in admin and the CSRF token every form of this session carries.

    The CSRF token is bound to the session's key (a hash of its id), not the id itself: the token
    is printed in every page, the id must stay in the cookie.

    `email` is read once: an error's page renders the nav after the request's transaction
    rolled back, when `admin` can no longer be read.
    """

    admin: AdminUser
    key: str
    csrf_token: str
    email: str


def _secure(ctx: WebContext) -> bool:
    return ctx.settings.public_base_url.startswith("https://")


def _now() -> datetime:
    return clock.now()


def read_session(request: Request, ctx: WebContext, session: Session) -> AdminSession | None:
    """The admin session of the request's cookie, if it is valid, unexpired and not revoked."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    try:
        sid = ctx.signer.loads(ADMIN_SESSION, cookie, now=_now(), max_age=SESSION_SECONDS)
    except InvalidToken:
        return None
    if not isinstance(sid, str):  # e.g. a cookie of the stateless format before migration 0004
        return None
    admin = session_admin(session, sid=sid, now=_now())
    if admin is None:
        return None
    key = session_key(sid)
    return AdminSession(admin, key, ctx.signer.dumps(CSRF, key, now=_now()), admin.email)


def current_admin(
    request: Request, ctx: WebContext = Depends(context), session: Session = db_session
) -> AdminSession:
    """Dependency of every admin page: the session, or a redirect to the login page.

    Kept on `request.state.admin` too: a domain error's page (`app.web.errors`) shows the nav.
    """
    found = read_session(request, ctx, session)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    request.state.admin = found
    return found


def csrf_valid(ctx: WebContext, bound_to: str, token: str) -> bool:
    """Whether `token` was issued for `bound_to` (a session's key) within a session's lifetime."""
    try:
        bound = ctx.signer.loads(CSRF, token, now=_now(), max_age=SESSION_SECONDS)
    except InvalidToken:
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, bound_to)


async def admin_form(
    request: Request,
    admin: AdminSession = Depends(current_admin),
    ctx: WebContext = Depends(context),
) -> AdminSession:
    """Dependency of every admin POST: a session, and the form's CSRF token bound to it."""
    form = await request.form()
    token = form.get("csrf_token")
    if not isinstance(token, str) or not csrf_valid(ctx, admin.key, token):
        raise CsrfRefused()
    return admin


def _safe_next(value: Any) -> str:
    """Only paths inside /admin, so the login form cannot send anyone to another site."""
    if isinstance(value, str) and value.startswith("/admin") and "//" not in value:
        return value
    return "/admin"


def _login_page(
    request: Request,
    ctx: WebContext,
    *,
    status: int = 200,
    error: str | None = None,
    email: str = "",
    next_path: str = "/admin",
) -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(18)
    token = ctx.signer.dumps(CSRF, f"login:{nonce}", now=_now())
    response = render(
        request,
        "admin/login.html",
        status=status,
        admin=None,
        csrf_token=token,
        error=error,
        email=email,
        next_path=next_path,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(ctx),
        path="/admin",
    )
    return response


@router.get("/admin/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    next: str = "/admin",
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> Response:
    """The login form (already logged in: straight to the dashboard)."""
    if read_session(request, ctx, session) is not None:
        return RedirectResponse(_safe_next(next), 303)
    return _login_page(request, ctx, next_path=_safe_next(next))


def _too_many(
    request: Request, ctx: WebContext, limited: RateLimited, *, email: str, next_path: str
) -> HTMLResponse:
    """The same 429 for the per-address and the per-account limit: neither says which it was."""
    response = _login_page(
        request,
        ctx,
        status=429,
        email=email[:320],
        next_path=next_path,
        error=f"Too many login attempts. Try again in {limited.retry_after} seconds.",
    )
    response.headers["Retry-After"] = str(limited.retry_after)
    return response


def _account_key(email: str) -> str:
    """The per-account limit's key: any typed address (so it does not tell which exist), hashed
    so the limiter's store (Redis) holds no addresses."""
    return hashlib.sha256(email.strip().casefold()[:320].encode()).hexdigest()


@router.post("/admin/login", response_class=HTMLResponse)
async def login(
    request: Request, ctx: WebContext = Depends(context), session: Session = db_session
) -> Response:
    """Check the password (limited per address, and per account for failures); a good one opens
    a server-side session and sets its cookie."""
    form = await request.form(max_files=0, max_fields=10)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    next_path = _safe_next(form.get("next"))
    ip = client_ip(request)
    try:
        check_rate(ctx, ctx.settings.login_rate, "admin-login", ip)
    except RateLimited as limited:
        return _too_many(request, ctx, limited, email=email, next_path=next_path)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not csrf_valid(ctx, f"login:{nonce}", str(form.get("csrf_token") or "")):
        return _login_page(
            request,
            ctx,
            status=403,
            email=email[:320],
            next_path=next_path,
            error="The login form expired. Please try again.",
        )
    account = _account_key(email)
    try:
        check_failures(ctx, ctx.settings.login_account_rate, "admin-login-account", account)
    except RateLimited as limited:
        return _too_many(request, ctx, limited, email=email, next_path=next_path)
    admin = await run_in_threadpool(
        authenticate, session, email=email, password=password, now=_now()
    )
    if admin is None:
        count_failure(ctx, ctx.settings.login_account_rate, "admin-login-account", account)
        return _login_page(
            request,
            ctx,
            status=401,
            email=email[:320],
            next_path=next_path,
            error="That email and password do not match an admin account.",
        )
    sid = open_session(
        session, admin=admin, now=_now(), ip=ip, user_agent=request.headers.get("user-agent")
    )
    response = RedirectResponse(next_path, 303)
    response.set_cookie(
        SESSION_COOKIE,
        ctx.signer.dumps(ADMIN_SESSION, sid, now=_now()),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(ctx),
        path="/",
    )
    response.delete_cookie(
        LOGIN_COOKIE, path="/admin", httponly=True, samesite="lax", secure=_secure(ctx)
    )
    return response


def _logged_out(ctx: WebContext) -> Response:
    response = RedirectResponse("/admin/login", 303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(ctx)
    )
    return response


@router.post("/admin/logout")
def logout(
    admin: AdminSession = Depends(admin_form),
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> Response:
    """End this session on the server, so its cookie opens nothing even if it was copied."""
    revoke_session(session, key=admin.key, now=_now())
    return _logged_out(ctx)


@router.post("/admin/logout-everywhere")
def logout_everywhere(
    admin: AdminSession = Depends(admin_form),
    ctx: WebContext = Depends(context),
    session: Session = db_session,
) -> Response:
    """End every session of this admin, in every browser (e.g. after using a shared machine)."""
    revoke_all_sessions(session, admin_id=admin.admin.id, now=_now())
    return _logged_out(ctx)


def login_redirect(next_path: str) -> RedirectResponse:
    """Where LoginRequired sends the browser."""
    return RedirectResponse(f"/admin/login?next={quote(_safe_next(next_path), safe='/')}", 303)
