"""Per-section click evidence: which sources each section's readers clicked more or less.

A click in a segment's copy counts once for the item (`IssueItem.clicks`) and once for each
section that the reader chose and the item is in (`section_clicks`; "" for readers of
everything). Only items of a section can collect that section's clicks, so a section's readers
are compared with all readers on the same items: a source's share of the section's clicks over
its share of everyone's clicks on the section's items. That ratio is shrunk toward 1 with
pseudo-clicks, as the overall click prior is (`app.ranking.click_prior`), and kept in
`FACTOR_RANGE`: it re-orders a section's extras, it must not bury a source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import IssueItem, Post, SectionClicks
from app.ranking.click_prior import PRIOR_CLICKS, source_key
from app.ranking.sources import CLICK_WEEKS, mailed_issues
from app.sections import EVERYTHING, split_key

# However one-sided a section's clicks, a source's stories there move at most this far.
FACTOR_RANGE = (0.5, 2.0)
_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def clicked_sections(selection: str | None, item_sections: str) -> list[str]:
    """The `section_clicks` rows one click adds to: the reader's sections that the item is in,
    or "" for a reader of everything (no segment, or the empty selection)."""
    chosen = split_key(selection)
    if not chosen:
        return [EVERYTHING]
    mine = set(split_key(item_sections))
    return [key for key in chosen if key in mine]


def count_section_clicks(session: Session, *, item_id: int, sections: Iterable[str]) -> None:
    """Add one click to the item for each section, in one upsert (SQLite and PostgreSQL)."""
    rows = [{"item_id": item_id, "section": key, "clicks": 1} for key in dict.fromkeys(sections)]
    if not rows:
        return
    insert = _UPSERTS[session.get_bind().dialect.name](SectionClicks).values(rows)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[SectionClicks.item_id, SectionClicks.section],
            set_={"clicks": SectionClicks.clicks + 1},
        )
    )


def _shrunk(got: float, expected: float) -> float:
    low, high = FACTOR_RANGE
    return min(max((got + PRIOR_CLICKS) / (expected + PRIOR_CLICKS), low), high)


def section_factors_from(
    items: Iterable[tuple[int, str, str, int]], section_clicks: Iterable[tuple[int, str, int]]
) -> dict[str, dict[str, float]]:
    """Pure: per section, per source key, the section's readers' preference over everyone's.

    `items` are (item id, item sections key, source, all readers' clicks); `section_clicks`
    are (item id, section, that section's readers' clicks).
    """
    by_item = {
        item_id: (split_key(keys), source_key(source), clicks)
        for item_id, keys, source, clicks in items
    }
    got: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for item_id, section, clicks in section_clicks:
        if section != EVERYTHING and item_id in by_item and clicks > 0:
            got[section][by_item[item_id][1]] += clicks
    factors: dict[str, dict[str, float]] = {}
    for section, clicked in got.items():
        everyone: dict[str, float] = defaultdict(float)
        for keys, source, clicks in by_item.values():
            if section in keys:
                everyone[source] += max(clicks, 0)
        total_everyone = sum(everyone.values())
        total_section = sum(clicked.values())
        if total_everyone <= 0:
            continue
        factors[section] = {
            source: _shrunk(clicked.get(source, 0.0), total_section * count / total_everyone)
            for source, count in everyone.items()
            if count > 0 or source in clicked
        }
    return factors


def section_source_factors(
    session: Session, *, before_week: str, weeks: int = CLICK_WEEKS
) -> dict[str, dict[str, float]]:
    """Per section, per source key: that section's readers' click rate over everyone's, from
    the issues mailed in the `weeks` weeks before `before_week` ({} without evidence)."""
    issue_ids = list(mailed_issues(session, before_week=before_week, weeks=weeks))
    if not issue_ids:
        return {}
    in_window = IssueItem.issue_id.in_(issue_ids)
    section_clicks = session.execute(
        select(SectionClicks.item_id, SectionClicks.section, SectionClicks.clicks)
        .join(IssueItem, IssueItem.id == SectionClicks.item_id)
        .where(in_window, SectionClicks.section != EVERYTHING, SectionClicks.clicks > 0)
    ).all()
    if not section_clicks:
        return {}
    items = session.execute(
        select(IssueItem.id, IssueItem.sections, Post.source, IssueItem.clicks)
        .join(Post, Post.id == IssueItem.post_id)
        .where(in_window, IssueItem.sections != "", IssueItem.clicks > 0)
    ).all()
    return section_factors_from(items, section_clicks)
