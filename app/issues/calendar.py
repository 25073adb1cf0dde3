"""The weeks an editor may draft: recent weeks with their issue's status, which of them are over,
and the week a new draft defaults to.

Why a default and not "the last complete week": once that week is drafted or sent, offering it
again invites an editor to re-rank a draft they already edited, or to hit "already sent".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Issue, IssueStatus
from app.weeks import week_of, week_window

OFFERED = 8  # weeks the draft form offers: this week and the seven before it


@dataclass(frozen=True)
class WeekChoice:
    """One ISO week as the draft form shows it."""

    week: str  # "2026-W48", what the form posts and the API takes
    monday: date
    sunday: date
    status: str | None  # the status of the week's issue; None when it has none
    complete: bool  # the week ended before now: its posts are all in

    @property
    def draftable(self) -> bool:
        """A week with no issue or with a draft can be (re-)ranked; a started send cannot."""
        return self.status in (None, IssueStatus.DRAFT)


def unfinished(week: str, *, now: datetime) -> bool:
    """Whether `week` has not ended at `now` (a draft of it misses the posts still to come)."""
    return week_window(week)[1] > now


def recent_weeks(session: Session, *, now: datetime, count: int = OFFERED) -> list[WeekChoice]:
    """The week of `now` and the `count - 1` weeks before it, newest first, with their status."""
    weeks = [week_of(now - timedelta(days=7 * back)) for back in range(count)]
    query = select(Issue.week, Issue.status).where(Issue.week.in_(weeks))
    statuses = {week: status for week, status in session.execute(query)}
    choices = []
    for week in weeks:
        start, end = week_window(week)
        choices.append(
            WeekChoice(
                week=week,
                monday=start.date(),
                sunday=(end - timedelta(days=1)).date(),
                status=statuses.get(week),
                complete=end <= now,
            )
        )
    return choices


def default_week(choices: list[WeekChoice]) -> str | None:
    """The newest complete week without an issue; else the newest complete draft; else None."""
    complete = [choice for choice in choices if choice.complete]
    for wanted in (None, IssueStatus.DRAFT):
        found = next((choice for choice in complete if choice.status == wanted), None)
        if found is not None:
            return found.week
    return None
