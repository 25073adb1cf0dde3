"""Admin accounts: create, verify a password (argon2), rehash old hashes, sessions, demo login.

Login sessions live in `admin_sessions` (`AdminLogin`), not only in a cookie, so they can be
ended: logout revokes one, "log out everywhere" and a new password revoke all of an admin's.
The browser holds a random session id; the table holds its SHA-256 only.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app import clock
from app.db import session_scope
from app.models import AdminLogin, AdminUser
from app.readers.subscriptions import InvalidAddress, normalise_email

DEMO_EMAIL = "admin@example.org"
DEMO_PASSWORD_FILE = "demo-admin.txt"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only stops absurd request bodies
SESSION_LIFETIME = timedelta(hours=12)
# last_seen_at is written at most this often: not one write (and SQLite write lock) per page.
LAST_SEEN_STEP = timedelta(minutes=1)

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash of a random password, made on the first login attempt of the process.

    Verifying an unknown address against it costs the same time as a real check, so response
    times do not tell an attacker which admin addresses exist.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account cannot be created as asked; the message says why."""


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (with its own salt and parameters)."""
    return _hasher.hash(password)


def check_new_password(password: str) -> None:
    """Refuse passwords that are too short or too long, with the reason."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")


def _admin_email(email: str) -> str:
    try:
        # No DNS look-up: an admin address on an internal domain is fine.
        return normalise_email(email, check_deliverability=False)
    except InvalidAddress as error:
        raise AccountError(f"not a usable address: {error.reason}") from error


def create_admin(session: Session, *, email: str, password: str, now: datetime) -> AdminUser:
    """Create an admin, or set a new password for an existing one (re-activating it)."""
    address = _admin_email(email)
    check_new_password(password)
    admin = session.scalar(select(AdminUser).where(AdminUser.email == address))
    if admin is None:
        admin = AdminUser(email=address, is_active=True, created_at=now)
        session.add(admin)
    else:
        # A new password is what an admin sets after a leak: no session of the old one survives.
        revoke_all_sessions(session, admin_id=admin.id, now=now)
    admin.password_hash = hash_password(password)
    admin.is_active = True
    session.flush()
    return admin


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> AdminUser | None:
    """The active admin with this address and password, or None; upgrades an outdated hash."""
    try:
        address = _admin_email(email)
    except AccountError:
        address = ""
    admin = session.scalar(select(AdminUser).where(AdminUser.email == address)) if address else None
    stored = admin.password_hash if admin is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if admin is None or not admin.is_active:
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        # The hash was made with weaker parameters than today's defaults: replace it now that
        # we hold the plaintext.
        admin.password_hash = hash_password(password)
    admin.last_login_at = now
    session.flush()
    return admin


def session_key(sid: str) -> str:
    """What the table keeps of a session id, and what a CSRF token is bound to."""
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(
    session: Session, *, admin: AdminUser, now: datetime, ip: str | None, user_agent: str | None
) -> str:
    """Start a login session for `admin`; returns its id, which only the browser keeps.

    Sessions past their expiry (revoked or not) are deleted here: logins are rare, so this keeps
    the table small without a periodic job.
    """
    session.execute(delete(AdminLogin).where(AdminLogin.expires_at <= now))
    sid = secrets.token_urlsafe(32)
    session.add(
        AdminLogin(
            token_hash=session_key(sid),
            admin_id=admin.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
            ip=ip[:64] if ip else None,
            user_agent=user_agent[:300] if user_agent else None,
        )
    )
    session.flush()
    return sid


def session_admin(session: Session, *, sid: str, now: datetime) -> AdminUser | None:
    """The active admin of a session that is unexpired and not revoked, or None."""
    login = session.scalar(select(AdminLogin).where(AdminLogin.token_hash == session_key(sid)))
    if login is None or login.revoked_at is not None or login.expires_at <= now:
        return None
    admin = session.get(AdminUser, login.admin_id)
    if admin is None or not admin.is_active:
        return None
    if now - login.last_seen_at >= LAST_SEEN_STEP:
        login.last_seen_at = now
    return admin


def revoke_session(session: Session, *, key: str, now: datetime) -> None:
    """End one session (logout), named by its `session_key`."""
    session.execute(
        update(AdminLogin)
        .where(AdminLogin.token_hash == key, AdminLogin.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all_sessions(session: Session, *, admin_id: int, now: datetime) -> int:
    """End every live session of one admin; returns how many were ended."""
    result = session.execute(
        update(AdminLogin)
        .where(
            AdminLogin.admin_id == admin_id,
            AdminLogin.revoked_at.is_(None),
            AdminLogin.expires_at > now,
        )
        .values(revoked_at=now)
    )
    return result.rowcount


def create_admin_command(email: str, password: str) -> str:
    """`digest admin create EMAIL`: create or reset an admin in the configured database (a reset
    ends the admin's sessions, see `create_admin`)."""
    with session_scope() as session:
        admin = create_admin(session, email=email, password=password, now=clock.now())
        return f"admin {admin.email} can now log in at /admin"


def ensure_demo_admin(session: Session, *, now: datetime, var_dir: Path) -> tuple[str, str]:
    """The demo login (admin@example.org + a password made once, kept in var/demo-admin.txt)."""
    path = var_dir / DEMO_PASSWORD_FILE
    password = path.read_text().strip() if path.exists() else ""
    admin = session.scalar(select(AdminUser).where(AdminUser.email == DEMO_EMAIL))
    fits = bool(password) and admin is not None and _matches(admin.password_hash, password)
    if not fits:
        password = password or secrets.token_urlsafe(12)
        create_admin(session, email=DEMO_EMAIL, password=password, now=now)
        var_dir.mkdir(parents=True, exist_ok=True)
        # The plaintext is kept only so `serve --demo` can print it at every start; 0600 so
        # other local users cannot read it.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(password + "\n")
    return DEMO_EMAIL, password


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
