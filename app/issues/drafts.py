"""Issues: draft a week's top 10 from the ranking and let editors pin/drop/retitle it; one issue
by id and the delivery counts of issues (their API JSON is `app.issues.output`)."""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, delete, func, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.errors import Invalid
from app.issues.errors import InvalidEdit, IssueLocked, IssueNotFound
from app.issues.mail import SUBJECT_TOPIC
from app.models import Delivery, DeliveryState, Issue, IssueItem, IssueStatus, Post
from app.ranking.click_prior import source_click_priors
from app.ranking.rules import Rules
from app.ranking.score import Candidate, RankedItem, Ranking, paused_cycle_collection, rank
from app.ranking.sources import click_records, source_weights
from app.sections import KEY_SEPARATOR
from app.tracking.sections import section_source_factors
from app.weeks import format_week, last_complete_week, parse_week, week_window

MAX_SUBJECT, MAX_INTRO = 200, 5000
# The delivery counts of the issue JSON (SPEC §6); a row being sent still counts as pending.
COUNT_STATES = (DeliveryState.PENDING, *DeliveryState.TERMINAL, DeliveryState.CANCELLED)
_CHUNK = 500  # ids per IN (...) so large weeks stay under SQLite's parameter limit


@dataclass(frozen=True)
class Draft:
    """A freshly ranked draft: the issue, the ranking behind it, and whether it was just made."""

    issue: Issue
    ranking: Ranking
    created: bool


# Topics as the database stores them (JSON text on SQLite): a week's posts share a few lists,
# so each distinct text is decoded once instead of 100k times.
_CANDIDATE_COLUMNS = (
    Post.id,
    Post.url,
    Post.title,
    Post.summary,
    Post.source,
    type_coerce(Post.topics, String).label("topics"),
    Post.published_at,
    Post.views,
    Post.likes,
    Post.shares,
    Post.comments,
)


def _candidates(rows: Iterable[Any]) -> list[Candidate]:
    # Positional, in _CANDIDATE_COLUMNS order: twice as fast as keywords on a 100k-post week.
    topic_lists: dict[str, tuple[str, ...]] = {}

    def topics_of(raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, str):  # PostgreSQL's driver decodes JSON itself
            return tuple(raw or ())
        if raw not in topic_lists:
            topic_lists[raw] = tuple(json.loads(raw) or ())
        return topic_lists[raw]

    return [
        Candidate(pid, url, title, summary or "", source, topics_of(topics), at, *metrics)
        for pid, url, title, summary, source, topics, at, *metrics in rows
    ]


def chunked(ids: Iterable[int]) -> Iterator[list[int]]:
    """Sorted unique ids in lists short enough for one IN (...)."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def candidates_for_week(
    session: Session, week: str, *, also: Iterable[int] = ()
) -> list[Candidate]:
    """The week's posts (published_at index range scan) plus posts `also` named, e.g. pins."""
    start, end = week_window(week)
    window = (Post.published_at >= start) & (Post.published_at < end)
    # Core rows on the session's connection: the ORM's row handling doubled the load time.
    session.flush()  # the connection does not autoflush: pending posts must be seen
    connection = session.connection()
    rows = list(connection.execute(select(*_CANDIDATE_COLUMNS).where(window).order_by(Post.id)))
    seen = {row[0] for row in rows}
    for chunk in chunked(set(also) - seen):
        rows += connection.execute(select(*_CANDIDATE_COLUMNS).where(Post.id.in_(chunk), ~window))
    return _candidates(rows)


def already_sent_post_ids(session: Session, *, except_week: str) -> frozenset[int]:
    """Posts that went out in the issue of any other week (mail reached readers)."""
    # Any other week, not only earlier ones: a late draft for an old week must not repeat posts
    # that a newer issue already mailed.
    query = (
        select(IssueItem.post_id)
        .join(Issue, Issue.id == IssueItem.issue_id)
        .where(Issue.status.in_(IssueStatus.MAILED), Issue.week != except_week)
    )
    return frozenset(session.scalars(query))


def default_subject(week: str, count: int) -> str:
    """The subject a draft gets unless an editor wrote one: "Your top 10 … — week 48, 2026"."""
    year, number = parse_week(week)
    when = f"week {number}, {year}"
    if count == 0:
        return f"Your {SUBJECT_TOPIC} posts — {when}"
    if count == 1:
        return f"Your top {SUBJECT_TOPIC} post — {when}"
    return f"Your top {count} {SUBJECT_TOPIC} posts — {when}"


def rank_posts(
    session: Session,
    *,
    week: str,
    pins: Sequence[int],
    drops: Iterable[int],
    now: datetime,
    settings: Settings,
) -> Ranking:
    """Rank `week` with the settings, pins, drops, source weights and earlier clicks; no writes."""
    rules = Rules(
        topics=frozenset(settings.topics),
        max_per_source=settings.max_per_source,
        size=settings.issue_size,
        pins=tuple(pins),
        drops=frozenset(drops),
        already_sent=already_sent_post_ids(session, except_week=week),
        source_weights=source_weights(session),
    )
    # Readers' clicks in the issues mailed before this week (SPEC §7 rule 3a).
    click_priors = source_click_priors(click_records(session, before_week=week))
    with paused_cycle_collection():
        candidates = candidates_for_week(session, week, also=pins)
        return rank(
            candidates,
            week=week,
            now=now,
            rules=rules,
            click_priors=click_priors,
            sections=settings.sections,
            section_factors=section_source_factors(session, before_week=week),
        )


def _rerank(session: Session, *, issue: Issue, now: datetime, settings: Settings) -> Ranking:
    """Rank the issue's week with its pins and drops and replace its items with the result."""
    ranking = rank_posts(
        session, week=issue.week, pins=issue.pins, drops=issue.drops, now=now, settings=settings
    )
    editor_subject = issue.subject != default_subject(issue.week, len(issue.items))
    issue.items.clear()
    # The section items are not in `issue.items` (it holds the overall list only).
    session.execute(delete(IssueItem).where(IssueItem.issue_id == issue.id))
    session.flush()  # delete the old rows first: (issue_id, post_id) is unique
    for item in ranking.items:
        issue.items.append(_item_row(item, overall=True))
    for item in ranking.extras:
        session.add(_item_row(item, overall=False, issue_id=issue.id))
    issue.note = ranking.note
    if not editor_subject:
        issue.subject = default_subject(issue.week, len(ranking.items))
    issue.ranked_at = issue.updated_at = now
    session.flush()
    return ranking


def _item_row(item: RankedItem, *, overall: bool, issue_id: int | None = None) -> IssueItem:
    """An issue's row for a ranked item: in the overall list, or one of a section's extras."""
    return IssueItem(
        issue_id=issue_id,
        post_id=item.post_id,
        rank=item.rank,
        score=item.score,
        reasons={**item.reasons, "duplicates": list(item.duplicates)},
        sections=KEY_SEPARATOR.join(item.sections),
        overall=overall,
    )


def _issue_for_week(session: Session, *, week: str, now: datetime) -> tuple[Issue, bool]:
    """The week's issue, created if missing; the UNIQUE(week) constraint settles any race."""
    query = select(Issue).where(Issue.week == week).with_for_update()
    issue = session.scalar(query)
    if issue is not None:
        return issue, False
    try:
        with session.begin_nested():
            issue = Issue(
                week=week,
                status=IssueStatus.DRAFT,
                subject=default_subject(week, 0),
                intro="",
                pins=[],
                drops=[],
                created_at=now,
                updated_at=now,
            )
            session.add(issue)
            session.flush()
        return issue, True
    except IntegrityError:
        # Another process inserted this week between our look and our insert (on PostgreSQL our
        # insert waited for its commit); only the savepoint was rolled back, so load its row.
        existing = session.scalar(query.execution_options(populate_existing=True))
        if existing is None:
            raise
        return existing, False


def requested_week(week: str | None, *, now: datetime) -> str:
    """The week a draft is asked for, normalised ("2026-w48 " → "2026-W48"), or the last
    complete one when None; `Invalid` for a malformed week or one that has not begun."""
    if week is None:
        return last_complete_week(now)
    try:
        normalised = format_week(*parse_week(week))
    except ValueError as error:
        raise Invalid(str(error)) from error
    if week_window(normalised)[0] > now:
        raise Invalid(f"{normalised} has not begun yet")
    return normalised


def prepare_draft(session: Session, *, week: str, now: datetime, settings: Settings) -> Draft:
    """Create or refresh the draft of `week` (ValueError for a bad week; IssueLocked if sent)."""
    parse_week(week)
    issue, created = _issue_for_week(session, week=week, now=now)
    if issue.status != IssueStatus.DRAFT:
        raise IssueLocked(f"the issue for {week} is {issue.status}; only a draft can be re-ranked")
    return Draft(issue, _rerank(session, issue=issue, now=now, settings=settings), created)


def draft_issue(session: Session, *, week: str, now: datetime, settings: Settings) -> Issue:
    """Create or refresh the draft of `week`, keeping its pins, drops and an editor's subject."""
    return prepare_draft(session, week=week, now=now, settings=settings).issue


def review_ranking(session: Session, *, issue: Issue, settings: Settings) -> Ranking:
    """Rank the issue's week again as of its `ranked_at` (no writes): what was left out, and why."""
    now = issue.ranked_at or issue.updated_at
    return rank_posts(
        session, week=issue.week, pins=issue.pins, drops=issue.drops, now=now, settings=settings
    )


# Bidi overrides and isolates can make a subject read differently from what it says.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _control_chars(text: str, *, allowed: str = "") -> bool:
    """Whether `text` holds a control character (C0, C1, line/paragraph separator, bidi)."""
    return any(
        (unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS)
        and char not in allowed
        for char in text
    )


def _text_problems(subject: str | None, intro: str | None) -> list[str]:
    problems = []
    if subject is not None:
        text = subject.strip() if isinstance(subject, str) else ""
        if not 1 <= len(text) <= MAX_SUBJECT:
            problems.append(f"subject must be 1 to {MAX_SUBJECT} characters")
        # A line break in a subject would start a new mail header.
        if _control_chars(text):
            problems.append("subject must be one line without control characters")
    if intro is not None and (not isinstance(intro, str) or len(intro) > MAX_INTRO):
        problems.append(f"intro must be text of at most {MAX_INTRO} characters")
    elif intro is not None and _control_chars(intro, allowed="\n\t"):
        # Paragraph breaks (LF) are fine: the intro is body text, never a header. A CR or
        # any other control character is not something an editor types.
        problems.append("intro must not contain control characters (CR, NUL, ESC, …)")
    return problems


def _post_problems(session: Session, *, week: str, ids: set[int]) -> list[str]:
    """Pins and drops must name posts of the issue's week."""
    start, end = week_window(week)
    found: dict[int, datetime] = {}
    for chunk in chunked(ids):
        found.update(
            session.execute(select(Post.id, Post.published_at).where(Post.id.in_(chunk))).all()
        )
    problems = []
    unknown = sorted(ids - found.keys())
    elsewhere = sorted(pid for pid, at in found.items() if not start <= at < end)
    if unknown:
        problems.append(f"no such posts: {', '.join(map(str, unknown))}")
    if elsewhere:
        problems.append(f"not published in {week}: {', '.join(map(str, elsewhere))}")
    return problems


def _edited_lists(
    issue: Issue, *, pin: list[int], drop: list[int], unpin: list[int], undrop: list[int]
) -> tuple[list[int], list[int]]:
    """New (pins, drops): pinning un-drops, dropping un-pins; new pins go last, in order given."""
    gone_pins, gone_drops = set(unpin) | set(drop), set(undrop) | set(pin)
    pins = [pid for pid in issue.pins if pid not in gone_pins]
    drops = [pid for pid in issue.drops if pid not in gone_drops]
    pins += [pid for pid in dict.fromkeys(pin) if pid not in pins]
    drops += [pid for pid in dict.fromkeys(drop) if pid not in drops]
    return pins, drops


def update_issue(
    session: Session,
    *,
    issue_id: int,
    pin: list[int] | None = None,
    drop: list[int] | None = None,
    unpin: list[int] | None = None,
    undrop: list[int] | None = None,
    subject: str | None = None,
    intro: str | None = None,
    now: datetime,
    settings: Settings,
) -> Issue:
    """Edit a draft; any pin/drop/unpin/undrop re-ranks it. Nothing changes if any part is bad."""
    issue = session.scalar(select(Issue).where(Issue.id == issue_id).with_for_update())
    if issue is None:
        raise IssueNotFound(issue_id)
    if issue.status != IssueStatus.DRAFT:
        raise IssueLocked(f"issue {issue_id} is {issue.status}; only a draft can be edited")
    pin, drop, unpin, undrop = pin or [], drop or [], unpin or [], undrop or []
    problems = _text_problems(subject, intro)
    if both := sorted(set(pin) & set(drop)):
        problems.append(f"pinned and dropped at once: {', '.join(map(str, both))}")
    problems += _post_problems(session, week=issue.week, ids=set(pin) | set(drop))
    if problems:
        raise InvalidEdit(problems)
    if subject is not None:
        issue.subject = subject.strip()
    if intro is not None:
        issue.intro = intro
    issue.updated_at = now
    if pin or drop or unpin or undrop:
        issue.pins, issue.drops = _edited_lists(
            issue, pin=pin, drop=drop, unpin=unpin, undrop=undrop
        )
        _rerank(session, issue=issue, now=now, settings=settings)
    session.flush()
    return issue


def get_issue(session: Session, *, issue_id: int) -> Issue:
    """An issue with its items and their posts loaded (IssueNotFound if missing)."""
    query = (
        select(Issue)
        .where(Issue.id == issue_id)
        .options(selectinload(Issue.items).selectinload(IssueItem.post))
    )
    issue = session.scalar(query)
    if issue is None:
        raise IssueNotFound(issue_id)
    return issue


def delivery_counts(session: Session, issue_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Deliveries per issue by state; `pending` includes `sending`, `total` counts every row."""
    counts: dict[int, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("total", *COUNT_STATES), 0)
    )
    query = (
        select(Delivery.issue_id, Delivery.state, func.count())
        .where(Delivery.issue_id.in_(list(issue_ids)))
        .group_by(Delivery.issue_id, Delivery.state)
    )
    for issue_id, state, number in session.execute(query):
        key = "pending" if state == DeliveryState.SENDING else state
        counts[issue_id][key] = counts[issue_id].get(key, 0) + number
        counts[issue_id]["total"] += number
    return counts


def delete_draft(session: Session, *, issue_id: int) -> str:
    """Delete a draft with its items and return its week; IssueLocked for any other status.

    Only a draft goes: a send that started has deliveries, clicks and a history to keep.
    """
    issue = session.scalar(select(Issue).where(Issue.id == issue_id).with_for_update())
    if issue is None:
        raise IssueNotFound(issue_id)
    if issue.status != IssueStatus.DRAFT:
        raise IssueLocked(f"issue {issue_id} is {issue.status}; only a draft can be deleted")
    week = issue.week
    session.delete(issue)
    session.flush()
    return week
