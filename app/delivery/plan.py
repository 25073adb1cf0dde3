"""What a send would do, told before it is done: the question `digest send` asks, its dry run.

`plan_send` reads and never writes. It refuses what `start_send` would refuse (no such issue,
no posts, cancelled or paused) and also an issue that was already sent, which `start_send`
answers with a quiet "nothing to do": a person who asks to send it should hear why nothing
happens. A send already running is a plan too: the caller may watch it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock as app_clock
from app.config import Settings
from app.delivery.engine import SendRefused, load_issue
from app.delivery.ledger import count_recipients
from app.issues.mail import NothingToSend
from app.issues.segments import due_readers, plan_segments
from app.models import Delivery, IssueItem, IssueSegment, IssueStatus


class AlreadySent(SendRefused):
    """The issue went out already; sending it again would mail every reader twice."""


@dataclass(frozen=True)
class SendPlan:
    """An issue about to be sent (or being sent) and who it reaches."""

    issue_id: int
    week: str
    status: str
    subject: str
    sender: str
    posts: int
    readers: int  # confirmed readers now; for a running send, the rows it froze
    batch_size: int
    # The lists readers get: (who, readers), the overall list first ("everything, weekly").
    segments: tuple[tuple[str, int], ...] = ()

    @property
    def batches(self) -> int:
        return -(-self.readers // self.batch_size)

    @property
    def running(self) -> bool:
        return self.status == IssueStatus.SENDING

    def question(self) -> str:
        """ "Send issue 2 (2026-W49, 10 posts) to 3,014 readers?" """
        return (
            f"Send issue {self.issue_id} ({self.week}, {_count(self.posts, 'post')}) "
            f"to {_count(self.readers, 'reader')}?"
        )

    def description(self) -> list[str]:
        """The send as lines for a dry run: what would go, from whom, to how many, how."""
        return [
            f"issue    {self.issue_id} ({self.week}, {self.status}), {_count(self.posts, 'post')}",
            f"subject  {self.subject}",
            f"from     {self.sender}",
            f"readers  {self.readers:,} confirmed",
            f"batches  {self.batches:,} of up to {self.batch_size:,} readers",
            *(
                f"{'lists' if n == 0 else '':8} {readers:>6,}  {who}"
                for n, (who, readers) in enumerate(self.segments)
            ),
        ]


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def plan_send(
    session: Session, *, issue_id: int, settings: Settings, now: datetime | None = None
) -> SendPlan:
    """The send of `issue_id` as it would start now; the domain error that stops it, if any.

    Readers counted are those it would mail: confirmed, not paused, and weekly (monthly ones
    too when the issue ends its month)."""
    now = now or app_clock.now()
    issue = load_issue(session, issue_id)
    if issue.status == IssueStatus.SENT:
        sent = f" on {issue.sent_at:%Y-%m-%d %H:%M} UTC" if issue.sent_at else ""
        raise AlreadySent(f"issue {issue_id} ({issue.week}) was already sent{sent}")
    if issue.status not in (IssueStatus.DRAFT, IssueStatus.SENDING):
        raise SendRefused(f"issue {issue_id} is {issue.status}; only a draft can be sent")
    posts = session.scalar(
        select(func.count())
        .select_from(IssueItem)
        .where(IssueItem.issue_id == issue_id, IssueItem.overall.is_(True))
    )
    if issue.status == IssueStatus.DRAFT and not posts:
        raise NothingToSend(f"issue {issue_id} ({issue.week}) lists no posts: nothing to send")
    if issue.status == IssueStatus.SENDING:
        frozen = select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id)
        readers = session.scalar(frozen) or 0
        stored = session.execute(
            select(IssueSegment.sections, IssueSegment.cadence, IssueSegment.readers)
            .where(IssueSegment.issue_id == issue_id)
            .order_by(IssueSegment.number)
        ).all()
    else:
        readers = count_recipients(session, who=due_readers(issue.week, now=now))
        stored = [
            (s.variant.key, s.variant.cadence, s.readers)
            for s in plan_segments(session, issue, settings=settings, now=now)
        ]
    segments = tuple(
        (f"{settings.sections.describe(key)}, {cadence}", count) for key, cadence, count in stored
    )
    return SendPlan(
        issue_id=issue.id,
        week=issue.week,
        status=issue.status,
        subject=issue.subject,
        sender=settings.from_address,
        posts=posts or 0,
        readers=readers,
        batch_size=settings.batch_size,
        segments=segments,
    )
