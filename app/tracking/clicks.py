"""Click tracking: signed per-item links that redirect only to the link stored for that issue."""

from __future__ import annotations

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


def follow_click(session: Session, *, signer: Signer, token: str) -> str | None:
    """The stored URL a click token points to (counting the click), or None if there is none."""
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
    if item.issue.status != IssueStatus.DRAFT:  # clicks in test copies of a draft don't count
        session.execute(
            update(IssueItem).where(IssueItem.id == item_id).values(clicks=IssueItem.clicks + 1)
        )
    return item.post.url
