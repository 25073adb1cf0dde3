"""Finding readers: the one search the admin pages, the admin API and exports share."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.models import Subscriber, SubscriberStatus


def reader_filter(*, query: str = "", status: str | None = None) -> list[ColumnElement[bool]]:
    """Conditions for readers whose address or name contains `query`, with `status` if given.

    LIKE wildcards in `query` are meant literally: "a_b" finds "a_b", not "axb". A NUL is
    refused with a reason: no stored text holds one, and PostgreSQL refuses it in a parameter."""
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        if status not in SubscriberStatus.ALL:
            raise Invalid(f"status must be one of {', '.join(SubscriberStatus.ALL)}")
        conditions.append(Subscriber.status == status)
    if "\0" in query:
        raise Invalid("the search text cannot contain NUL characters")
    text = query.strip().lower()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            Subscriber.email.like(pattern, escape="\\")
            | func.lower(Subscriber.name).like(pattern, escape="\\")
        )
    return conditions


def find_readers(
    session: Session, *, query: str = "", status: str | None = None, limit: int, offset: int = 0
) -> tuple[Sequence[Subscriber], int]:
    """One page of matching readers, newest first, and how many match in all."""
    conditions = reader_filter(query=query, status=status)
    total = session.scalar(select(func.count()).select_from(Subscriber).where(*conditions)) or 0
    rows = session.scalars(
        select(Subscriber)
        .where(*conditions)
        .order_by(Subscriber.created_at.desc(), Subscriber.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def all_readers(
    session: Session, *, query: str = "", status: str | None = None
) -> Sequence[Subscriber]:
    """Every matching reader in id order (for CSV export)."""
    conditions = reader_filter(query=query, status=status)
    return session.scalars(select(Subscriber).where(*conditions).order_by(Subscriber.id)).all()
