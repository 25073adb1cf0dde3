"""Click tracking: signed per-item links that redirect only to the link stored for that issue.

A click counts once per client per item per day, and never for a link prefetcher (mail
security scanners, chat unfurlers, browser prefetch): the archive's links are public, so
anyone could otherwise inflate a post's count, and the counts feed the ranking's click prior.
A client is its IP address and user agent hashed with a salt of the day (derived from the
secret key, so every process agrees and nothing is stored): the key says "seen today" without
holding either in clear, and it changes at midnight UTC.

A link in a segment's copy names the segment, so a counted click also counts for the sections
its readers chose (`app.tracking.sections`); links from before segments count as everyone's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Issue, IssueItem, IssueSegment, IssueStatus
from app.tokens import CLICK, InvalidToken, Signer
from app.tracking.sections import clicked_sections, count_section_clicks


def click_token(signer: Signer, *, issue_id: int, item_id: int, segment: int | None = None) -> str:
    """The token of one item's link in one issue (the same for every reader: no per-reader ids).

    `segment` is the number of the issue's rendering the link is in (`IssueSegment.number`), so
    a click counts for the sections its readers chose; tokens without one count as everyone's.
    """
    payload: dict[str, int] = {"i": issue_id, "p": item_id}
    if segment is not None:
        payload["s"] = segment
    return signer.dumps(CLICK, payload)


def click_url(
    signer: Signer, base_url: str, *, issue_id: int, item_id: int, segment: int | None = None
) -> str:
    """The tracked link put in the email instead of the post's URL."""
    token = click_token(signer, issue_id=issue_id, item_id=item_id, segment=segment)
    return f"{base_url.rstrip('/')}/r/{token}"


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


def _click_target(signer: Signer, token: str) -> tuple[int, int, int | None] | None:
    """(issue id, item id, segment number or None) of a valid token, else None."""
    try:
        payload = signer.loads(CLICK, token)
    except InvalidToken:
        return None
    if not isinstance(payload, dict):
        return None
    issue_id, item_id, segment = payload.get("i"), payload.get("p"), payload.get("s")
    if not all(_is_id(value) for value in (issue_id, item_id)):
        return None
    if segment is not None and not _is_id(segment, least=0):
        return None
    return issue_id, item_id, segment


def _is_id(value: object, *, least: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _segment(session: Session, issue_id: int, number: int) -> IssueSegment | None:
    return session.scalar(
        select(IssueSegment).where(IssueSegment.issue_id == issue_id, IssueSegment.number == number)
    )


def follow_click(
    session: Session,
    *,
    signer: Signer,
    token: str,
    counts: Callable[[int], bool] = lambda _item_id: True,
) -> str | None:
    """The stored URL a click token points to, or None if there is none.

    The link must be stored for the token's issue: one of its items, or one its segment lists
    (a monthly copy lists the best of the month's earlier issues too). A token naming a segment
    the issue does not have leads nowhere. The click is counted when the issue was mailed and
    `counts(item_id)` says so (the caller's "first time today for this client, not a
    prefetcher"): on the item, and per section for the segment's readers.
    """
    target = _click_target(signer, token)
    if target is None:
        return None
    issue_id, item_id, number = target
    item = session.get(IssueItem, item_id)
    if item is None:
        return None
    segment = _segment(session, issue_id, number) if number is not None else None
    if number is not None and segment is None:
        return None
    if item.issue_id != issue_id and (segment is None or item.id not in segment.item_ids):
        return None
    issue = session.get(Issue, issue_id)
    # Clicks in test copies of a draft don't count.
    if issue is not None and issue.status != IssueStatus.DRAFT and counts(item_id):
        session.execute(
            update(IssueItem).where(IssueItem.id == item_id).values(clicks=IssueItem.clicks + 1)
        )
        selection = segment.sections if segment is not None else None
        count_section_clicks(
            session, item_id=item_id, sections=clicked_sections(selection, item.sections)
        )
    return item.post.url
