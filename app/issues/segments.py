"""Each reader's own top 10: the variants of an issue, and the segments of readers who get them.

The week is ranked once (`app.issues.drafts`): the overall top 10 (`IssueItem.overall`), and
each section's best stories beyond it (the extras), every item with the sections it is in. A
reader's list is made from those rows alone, with no second ranking:

1. the editors' pins, which go to everyone;
2. the stories of the reader's sections, best score first (the overall ones among them too);
3. if that leaves the list short, the overall top in its order — nobody gets a shorter mail
   than the overall list (another section's extras never fill in: they are not what the reader
   chose, nor what everyone gets);

under the same cap per source as the overall list. A reader who chose nothing (or every
section) gets the overall list itself.

Monthly readers get mail once a month, with the issue of the month's last ISO week (the one
whose Thursday is the month's last Thursday): the best of that month's issues, by the same
rules over the items of every issue mailed that month.

A *segment* is the readers who share a (selection, cadence): its list is rendered and encoded
once (`app.delivery.engine.start_send`), and each reader's copy is filled by byte slots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.models import (
    Cadence,
    Issue,
    IssueItem,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
)
from app.ranking.click_prior import source_key
from app.sections import EVERYTHING, Sections, split_key
from app.weeks import format_week, parse_week

OVERALL = (EVERYTHING, Cadence.WEEKLY)  # segment 0: the overall list, weekly


@dataclass(frozen=True)
class Variant:
    """One list of an issue: who it is for (sections, cadence) and its items in mail order."""

    sections: tuple[str, ...]  # section keys; () = everything
    cadence: str
    items: list[IssueItem]
    from_sections: int  # how many of the items are from the reader's sections (pins included)

    @property
    def key(self) -> str:
        return ",".join(self.sections)


@dataclass(frozen=True)
class Segment:
    """The readers due for an issue who share a variant: its number, variant and size.

    `stored` lists the (sections, cadence) pairs as the readers' rows hold them: an old
    selection naming a section the configuration dropped maps to the variant it means now.
    """

    number: int
    variant: Variant
    readers: int
    stored: tuple[tuple[str, str], ...]


def is_month_end(week: str) -> bool:
    """Whether `week` is its month's last ISO week (its Thursday is the month's last)."""
    thursday = _thursday(week)
    return (thursday + timedelta(days=7)).month != thursday.month


def month_of(week: str) -> tuple[int, int]:
    """(year, month) a week belongs to: its Thursday's, as ISO 8601 assigns weeks to years."""
    thursday = _thursday(week)
    return thursday.year, thursday.month


def _thursday(week: str) -> date:
    year, number = parse_week(week)
    return date.fromisocalendar(year, number, 4)


def weeks_of_month(week: str) -> list[str]:
    """Every ISO week of the month `week` belongs to, in order."""
    year, month = month_of(week)
    first = date(year, month, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    weeks = []
    while thursday.month == month:
        iso = thursday.isocalendar()
        weeks.append(format_week(iso.year, iso.week))
        thursday += timedelta(days=7)
    return weeks


def due_readers(issue_week: str, *, now: datetime) -> ColumnElement[bool]:
    """Who a send of the week's issue mails: confirmed, not paused, and weekly — or monthly,
    when the week ends its month."""
    not_paused = or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now)
    cadences = [Cadence.WEEKLY, Cadence.MONTHLY] if is_month_end(issue_week) else [Cadence.WEEKLY]
    return and_(
        Subscriber.status == SubscriberStatus.CONFIRMED,
        not_paused,
        Subscriber.cadence.in_(cadences),
    )


def choose_items(
    primary: Sequence[IssueItem],
    rest: Sequence[IssueItem],
    *,
    keys: Iterable[str],
    pins: Iterable[int],
    size: int,
    max_per_source: int,
) -> tuple[list[IssueItem], int]:
    """A reader's list from ranked items: pins, their sections' items, then the overall top.

    `primary` is the overall list in rank order, `rest` the other candidates (the sections'
    extras). Returns the items and how many came from the reader's sections.
    """
    wanted = set(keys)
    pinned = set(pins)
    everything = [*primary, *rest]
    chosen: list[IssueItem] = [item for item in primary if item.post_id in pinned]
    seen = {item.post_id for item in chosen}
    per_source = Counter(source_key(item.post.source) for item in chosen)

    def take(items: Iterable[IssueItem], *, capped: bool = True) -> None:
        for item in items:
            if len(chosen) >= size:
                return
            source = source_key(item.post.source)
            if item.post_id in seen or (capped and per_source[source] >= max_per_source):
                continue
            chosen.append(item)
            seen.add(item.post_id)
            per_source[source] += 1

    mine = [item for item in everything if wanted & set(split_key(item.sections))]
    mine.sort(key=lambda item: (-item.score, item.rank, item.id))
    take(mine)
    from_sections = len(chosen)
    take(primary)
    take(primary, capped=False)  # a short mail is worse than a fourth post of one source
    return chosen, from_sections


def _issue_items(session: Session, issue_ids: Sequence[int]) -> list[IssueItem]:
    query = (
        select(IssueItem)
        .where(IssueItem.issue_id.in_(list(issue_ids)))
        .options(selectinload(IssueItem.post))
        .order_by(IssueItem.issue_id, IssueItem.rank, IssueItem.id)
    )
    return list(session.scalars(query))


class IssueVariants:
    """Every variant of one issue, from its stored items (two queries, then pure)."""

    def __init__(self, session: Session, issue: Issue, *, settings: Settings) -> None:
        self.issue = issue
        self.sections: Sections = settings.sections
        self.size = settings.issue_size
        self.max_per_source = settings.max_per_source
        items = _issue_items(session, [issue.id])
        self.overall = [item for item in items if item.overall]
        self.extras = [item for item in items if not item.overall]
        self._session = session
        self._month: tuple[list[IssueItem], list[IssueItem]] | None = None

    def variant(self, sections: Iterable[str], cadence: str = Cadence.WEEKLY) -> Variant:
        """The list a reader of these section keys and this cadence gets."""
        keys = tuple(self.sections.read_key(",".join(sections)))
        if cadence == Cadence.MONTHLY:
            primary, rest = self._month_items()
        elif not keys:
            return Variant((), cadence, list(self.overall), len(self.overall))
        else:
            primary, rest = self.overall, self.extras
        items, from_sections = choose_items(
            primary,
            rest,
            keys=keys,
            pins=self.issue.pins,
            size=self.size,
            max_per_source=self.max_per_source,
        )
        return Variant(keys, cadence, items, from_sections if keys else len(items))

    def _month_items(self) -> tuple[list[IssueItem], list[IssueItem]]:
        """The month's overall items (best score first) and its extras: this issue's and
        those of the month's other issues that went out."""
        if self._month is None:
            weeks = [w for w in weeks_of_month(self.issue.week) if w != self.issue.week]
            others = self._session.scalars(
                select(Issue.id).where(Issue.week.in_(weeks), Issue.status.in_(IssueStatus.MAILED))
            ).all()
            items = [*self.overall, *self.extras, *_issue_items(self._session, others)]
            best: dict[int, IssueItem] = {}
            for item in items:  # a post in two issues counts once, with its better score
                if item.post_id not in best or item.score > best[item.post_id].score:
                    best[item.post_id] = item
            ordered = sorted(
                best.values(), key=lambda item: (-item.score, item.issue_id, item.rank)
            )
            self._month = (
                [item for item in ordered if item.overall],
                [item for item in ordered if not item.overall],
            )
        return self._month

    def section_variants(self) -> dict[str, Variant]:
        """For the review: what a reader of only one section gets, per section."""
        return {section.key: self.variant([section.key]) for section in self.sections.all}


def selection_counts(session: Session, *, week: str, now: datetime) -> list[tuple[str, str, int]]:
    """(stored sections, cadence, readers) of the readers a send of `week` would mail now."""
    query = (
        select(Subscriber.sections, Subscriber.cadence, func.count())
        .where(due_readers(week, now=now))
        .group_by(Subscriber.sections, Subscriber.cadence)
    )
    return [(sections or "", cadence, count) for sections, cadence, count in session.execute(query)]


def plan_segments(
    session: Session, issue: Issue, *, settings: Settings, now: datetime
) -> list[Segment]:
    """The segments a send of `issue` started now would have: one per distinct variant of the
    due readers, the overall weekly one first (number 0), the others by cadence and key."""
    variants = IssueVariants(session, issue, settings=settings)
    grouped: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
    for stored, cadence, count in selection_counts(session, week=issue.week, now=now):
        key = (settings.sections.key_of(split_key(stored)), cadence)
        grouped.setdefault(key, []).append((stored, cadence, count))
    order = sorted(grouped, key=lambda key: (key != OVERALL, key[1] != Cadence.WEEKLY, key))
    return [
        Segment(
            number=number,
            variant=variants.variant(split_key(key[0]), key[1]),
            readers=sum(count for _, _, count in grouped[key]),
            stored=tuple((stored, cadence) for stored, cadence, _ in grouped[key]),
        )
        for number, key in enumerate(order)
    ]


def segment_numbers(segments: Sequence[Segment]) -> Mapping[tuple[str, str], int]:
    """(stored sections, cadence) → segment number, for freezing the ledger."""
    return {pair: segment.number for segment in segments for pair in segment.stored}
