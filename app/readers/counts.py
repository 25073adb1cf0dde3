"""How many readers are in each state: the figures the admin pages and `/metrics` show."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Subscriber, SubscriberStatus


def readers_by_status(session: Session) -> dict[str, int]:
    """How many readers are in each state (every state present, zero when none)."""
    counts = dict.fromkeys(SubscriberStatus.ALL, 0)
    query = select(Subscriber.status, func.count()).group_by(Subscriber.status)
    counts.update({str(status): number for status, number in session.execute(query)})
    return counts


def confirmed_readers(session: Session) -> int:
    """How many readers a send started now would go to."""
    query = select(func.count()).where(Subscriber.status == SubscriberStatus.CONFIRMED)
    return session.scalar(query) or 0
