"""Click tracking: signed per-item links that redirect only to the link stored for that issue.

A click counts once per client per item per day, and never for a link prefetcher (mail
security scanners, chat unfurlers, browser prefetch): the archive's links are public, so
anyone could otherwise inflate a post's count, and the counts feed the ranking's click prior.
A client is its IP address and user agent hashed with a salt of the day (derived from the
secret key, so every process agrees and nothing is stored): the key says "seen today" without
holding either in clear, and it changes at midnight UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import IssueItem, IssueStatus
from app.tokens import CLICK, InvalidToken, Signer


def click_token(signer: Signer, *, issue_id: int, item_id: int) -> str:
    """The token of one item's link in one issue (the same for every reader: no per-reader ids)."""
    return signer.dumps(CLICK, {"i": issue_id, "p": item_id})


def click_url(signer: Signer, base_url: str, *, issue_id: int, item_id: int) -> str:
    """The tracked link put in the email instead of the post's URL."""
    return f"{base_url.rstrip('/')}/r/{click_token(signer, issue_id=issue_id, item_id=item_id)}"


# User agents of link checkers that fetch every link of a mail or a chat message, and of bots.
_PREFETCHERS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|prefetch|externalhit|unfurl|linkexpand|scanner"
    r"|microsoft office|outlook|safelinks|barracuda|proofpoint|mimecast|urldefense|ironport"
    r"|forcepoint|trendmicro|symantec|zscaler|headless|curl/|wget/|python-|go-http|java/"
    r"|okhttp|whatsapp|telegram|discord|skype|viber",
    re.IGNORECASE,
)


def is_prefetcher(user_agent: str, *, purpose: str) -> bool:
    """True for a fetch no person asked for: a prefetch (`Sec-Purpose`/`Purpose` header), no
    user agent at all, or one of the link scanners and bots in `_PREFETCHERS`."""
    if "prefetch" in purpose.lower() or not user_agent.strip():
        return True
    return _PREFETCHERS.search(user_agent) is not None


def click_client(secret: str, ip: str, user_agent: str, *, now: datetime) -> str:
    """A key for (IP, user agent) that is the same all day and tells nothing about either."""
    day = now.astimezone(UTC).date().isoformat()
    salt = hmac.new(secret.encode(), f"click-salt:{day}".encode(), hashlib.sha256).digest()
    return hmac.new(salt, f"{ip}\n{user_agent}".encode(), hashlib.sha256).hexdigest()[:32]


def follow_click(
    session: Session,
    *,
    signer: Signer,
    token: str,
    counts: Callable[[int], bool] = lambda _item_id: True,
) -> str | None:
    """The stored URL a click token points to, or None if there is none.

    The click is counted when the issue was sent and `counts(item_id)` says so (the caller's
    "first time today for this client, not a prefetcher")."""
    try:
        payload = signer.loads(CLICK, token)
    except InvalidToken:
        return None
    if not isinstance(payload, dict):
        return None
    issue_id, item_id = payload.get("i"), payload.get("p")
    if not isinstance(issue_id, int) or not isinstance(item_id, int):
        return None
    item = session.get(IssueItem, item_id)
    if item is None or item.issue_id != issue_id:
        return None
    # Clicks in test copies of a draft don't count.
    if item.issue.status != IssueStatus.DRAFT and counts(item_id):
        session.execute(
            update(IssueItem).where(IssueItem.id == item_id).values(clicks=IssueItem.clicks + 1)
        )
    return item.post.url
