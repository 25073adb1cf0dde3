"""Admin accounts: create, verify a password (argon2), rehash old hashes, sessions, demo login."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.db import session_scope
from app.models import AdminUser
from app.readers.subscriptions import InvalidAddress, normalise_email

DEMO_EMAIL = "admin@example.org"
DEMO_PASSWORD_FILE = "demo-admin.txt"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only stops absurd request bodies

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


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the stored hash that a login session carries: a new password changes
    it, which ends every session made with the old one."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def session_admin(session: Session, *, admin_id: int, fingerprint: str) -> AdminUser | None:
    """The admin a login session names, if still active and with the password it was made with."""
    admin = session.get(AdminUser, admin_id)
    if admin is None or not admin.is_active:
        return None
    if not hmac.compare_digest(fingerprint, password_fingerprint(admin.password_hash)):
        return None
    return admin


def create_admin_command(email: str, password: str) -> str:
    """`digest admin create EMAIL`: create or reset an admin in the configured database."""
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
