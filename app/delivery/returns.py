"""The return path: where a relay sends a late bounce for a mail, and which mail it was (VERP).

With DIGEST_BOUNCE_ADDRESS=bounces@news.example.org, the digest of issue 12 to reader 3456 goes
out with envelope sender `bounces+d12-3456-<mac>@news.example.org`: a DSN for it comes back to
that address, and `app.bounces` reads the signed token to find the delivery. Unset, the envelope
sender is the From address, as before, and late bounces cannot be matched.
"""

from __future__ import annotations

from email.utils import parseaddr

from app.config import Settings
from app.tokens import MailRef, bounce_token


def return_path(settings: Settings, ref: MailRef | None) -> str:
    """The envelope sender for the mail `ref` names; for None (a test copy) the bare address."""
    bounce = settings.bounce_address
    if not bounce:
        return parseaddr(settings.from_address)[1] or settings.from_address
    if ref is None:
        return bounce
    local, _, domain = bounce.rpartition("@")
    return f"{local}+{bounce_token(settings.signing_keys(), ref)}@{domain}"
