"""The transport a send uses: SMTP when DIGEST_SMTP_URL is set, else the outbox folder.

Kept apart from both transports (they import `transports` for its errors), so that no
import runs in a circle.
"""

from __future__ import annotations

from app.config import Settings
from app.delivery.outbox import OutboxTransport
from app.delivery.smtp import SMTPTransport
from app.delivery.transports import Transport


def transport_from_settings(settings: Settings) -> Transport:
    """SMTP when DIGEST_SMTP_URL is set, else the outbox folder under `var/`."""
    if settings.smtp_url:
        return SMTPTransport(settings.smtp_url)
    return OutboxTransport(settings.outbox_dir)
