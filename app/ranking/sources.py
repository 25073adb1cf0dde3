"""Sources: the editor's per-source weights, and what readers' clicks in sent issues say of each.

Both feed the ranking (SPEC §7 rule 3a). A source is matched by its name stripped and
casefolded, as the ranking matches it, so "Reuters" and "reuters " are one source.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.models import Issue, IssueItem, IssueStatus, Post, SourceWeight
from app.ranking.click_prior import PRIOR_CLICKS, ClickRecord, source_click_priors, source_key
from app.weeks import format_week, parse_week, week_of, week_window

MIN_WEIGHT, MAX_WEIGHT, DEFAULT_WEIGHT = 0.0, 10.0, 1.0
MAX_SOURCE_LENGTH = 200  # as long as a post's source may be
# Clicks from older issues say little about a source today, and the query stays small.
CLICK_WEEKS = 12


class InvalidSourceWeight(Invalid):
    """A source name or weight that cannot be stored; the message says what is wrong."""


@dataclass(frozen=True)
class SourceRow:
    """One source as the admin sees it: recent posts, the editor's weight, readers' clicks.

    `listed` and `clicks` count its items in the issues mailed in the click window;
    `click_prior` is the multiplier the ranking gets from them (None: never listed there).
    """

    key: str
    name: str
    posts: int
    weight: float
    weight_set: bool
    click_prior: float | None
    listed: int
    clicks: int


def _name_problem(name: str) -> str | None:
    if not name:
        return "source must be a name, not empty"
    if len(name) > MAX_SOURCE_LENGTH:
        return f"source must be at most {MAX_SOURCE_LENGTH} characters"
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        return "source must be one line without control characters"
    return None


def source_name(source: Any) -> str:
    """A source name as stored (stripped), or InvalidSourceWeight saying what is wrong."""
    name = source.strip() if isinstance(source, str) else ""
    if problem := _name_problem(name):
        raise InvalidSourceWeight(problem)
    return name


def check_source_weight(*, source: Any, weight: Any) -> tuple[str, float]:
    """The (name, weight) to store, or InvalidSourceWeight naming every problem."""
    name = source.strip() if isinstance(source, str) else ""
    problems = [problem] if (problem := _name_problem(name)) else []
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        problems.append("weight must be a number")
    elif not math.isfinite(weight):
        problems.append("weight must be a finite number")
    elif not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        problems.append(f"weight must be from {MIN_WEIGHT:g} to {MAX_WEIGHT:g}, got {weight:g}")
    if problems:
        raise InvalidSourceWeight("; ".join(problems))
    return name, float(weight)


def source_weights(session: Session) -> dict[str, float]:
    """Every weight an editor set, by source key (a source without one weighs 1)."""
    rows = session.execute(select(SourceWeight.source_key, SourceWeight.weight))
    return {key: weight for key, weight in rows}


def stored_weight(session: Session, key: str) -> SourceWeight | None:
    """The weight an editor set for the source with this key, if any."""
    return session.get(SourceWeight, key) if key else None


def set_source_weight(
    session: Session, *, source: str, weight: float, now: datetime
) -> SourceWeight:
    """Set a source's weight (InvalidSourceWeight if bad); a weight of 1 is kept, as set then."""
    name, value = check_source_weight(source=source, weight=weight)
    key = source_key(name)
    row = session.get(SourceWeight, key, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():
                row = SourceWeight(source_key=key, name=name, weight=value, updated_at=now)
                session.add(row)
            return row
        except IntegrityError:
            # Another request stored this source between our look and our insert.
            row = session.get(SourceWeight, key, with_for_update=True, populate_existing=True)
            if row is None:
                raise
    row.name, row.weight, row.updated_at = name, value, now
    session.flush()
    return row


def mailed_issues(
    session: Session, *, before_week: str, weeks: int = CLICK_WEEKS
) -> dict[int, str]:
    """Issue id → week of the issues mailed in the `weeks` weeks before `before_week`: the
    click evidence every source prior reads (overall here, per section in app.tracking)."""
    if weeks < 0:
        raise ValueError("weeks cannot be negative")
    end = parse_week(before_week)
    first = parse_week(week_of(week_window(before_week)[0] - timedelta(weeks=weeks)))
    chosen: dict[int, str] = {}
    mailed = select(Issue.id, Issue.week).where(Issue.status.in_(IssueStatus.MAILED))
    for issue_id, week in session.execute(mailed):
        try:
            year_week = parse_week(week)
        except ValueError:
            continue
        if first <= year_week < end:
            chosen[issue_id] = format_week(*year_week)
    return chosen


def click_records(
    session: Session, *, before_week: str, weeks: int = CLICK_WEEKS
) -> list[ClickRecord]:
    """Each item of the issues mailed in the `weeks` weeks before `before_week`, with its clicks.

    Mailed: sent, or sending or paused once mail went out. Drafts and cancelled issues are
    left out. Records come in week order, then by rank.
    """
    chosen = mailed_issues(session, before_week=before_week, weeks=weeks)
    if not chosen:
        return []
    query = (
        select(IssueItem.issue_id, IssueItem.rank, IssueItem.clicks, Post.source)
        .join(Post, Post.id == IssueItem.post_id)
        # The overall list, where rank is the position every reader of everything saw.
        .where(IssueItem.issue_id.in_(list(chosen)), IssueItem.overall.is_(True))
    )
    records = [
        ClickRecord(week=chosen[issue_id], rank=rank, source=source, clicks=clicks)
        for issue_id, rank, clicks, source in session.execute(query)
    ]
    records.sort(key=lambda record: (record.week, record.rank, record.source))
    return records


def _recent_post_counts(session: Session, *, since: datetime) -> dict[str, Counter[str]]:
    """Posts published since `since`, counted per source key and spelling."""
    query = (
        select(Post.source, func.count()).where(Post.published_at >= since).group_by(Post.source)
    )
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for source, count in session.execute(query):
        spellings[source_key(source)][source.strip()] += count
    return spellings


def source_table(
    session: Session, *, weeks: int, now: datetime, click_weeks: int = CLICK_WEEKS
) -> list[SourceRow]:
    """Every source with posts in the last `weeks` weeks, a weight, or items in mailed issues.

    Most posts first. Clicks come from the issues mailed in the `click_weeks` weeks before
    this one, the evidence the next draft's ranking uses.
    """
    spellings = _recent_post_counts(session, since=now - timedelta(weeks=weeks))
    weights = {row.source_key: row for row in session.scalars(select(SourceWeight))}
    records = click_records(session, before_week=week_of(now), weeks=click_weeks)
    priors = source_click_priors(records)
    listed: Counter[str] = Counter()
    clicks: Counter[str] = Counter()
    names: dict[str, str] = {}
    for record in records:
        key = source_key(record.source)
        listed[key] += 1
        clicks[key] += record.clicks
        names.setdefault(key, record.source.strip())
    rows = []
    for key in spellings.keys() | weights.keys() | listed.keys():
        if key in spellings:
            # The spelling most of its posts use (ties: alphabetical) is what the editor knows.
            name = min(spellings[key].items(), key=lambda pair: (-pair[1], pair[0]))[0]
        else:
            name = weights[key].name if key in weights else names[key]
        row = weights.get(key)
        rows.append(
            SourceRow(
                key=key,
                name=name,
                posts=sum(spellings[key].values()) if key in spellings else 0,
                weight=row.weight if row else DEFAULT_WEIGHT,
                weight_set=row is not None,
                click_prior=priors.get(key),
                listed=listed[key],
                clicks=clicks[key],
            )
        )
    rows.sort(key=lambda row: (-row.posts, row.name.casefold(), row.key))
    return rows


# A click prior this close to 1 reads as "about as often as usual".
USUAL_BAND = 0.05


def clicks_in_words(row: SourceRow) -> str:
    """What readers' clicks say of a source: 'readers clicked this source 1.8× the usual'."""
    prior = row.click_prior
    if prior is None:  # never listed, or only in issues nobody clicked
        return "not enough clicks yet"
    if abs(prior - 1) < USUAL_BAND:
        if row.clicks < PRIOR_CLICKS:  # held at 1 by the prior, not by readers
            return "not enough clicks yet"
        return "readers clicked this source about as often as the usual"
    return f"readers clicked this source {prior:.2g}× the usual"
