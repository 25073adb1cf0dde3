"""What `digest rank` prints: a week ranked as its draft would be, as a readable table."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.issues.drafts import chunked, rank_posts
from app.models import Issue, Post
from app.ranking.score import RankedItem, Ranking
from app.weeks import parse_week

TABLE_ROWS_PER_REASON = 20  # `digest rank` lists this many left-out posts per reason
COVERAGE_WIDTH, SOURCE_NAME_WIDTH = 110, 40
NO_ENGAGEMENT = (
    "no engagement figures this week (posts came from feeds): ranked by how many outlets covered"
    " each story and how readers clicked each source before"
)


def rank_week(
    session: Session, *, week: str, now: datetime, settings: Settings
) -> tuple[Ranking, dict[int, Post]]:
    """Rank `week` as its draft would be (with its pins and drops), writing nothing."""
    parse_week(week)
    issue = session.scalar(select(Issue).where(Issue.week == week))
    pins, drops = (issue.pins, issue.drops) if issue is not None else ([], [])
    ranking = rank_posts(session, week=week, pins=pins, drops=drops, now=now, settings=settings)
    # Only the posts the table shows: a big week excludes tens of thousands.
    shown: dict[str, list[int]] = defaultdict(list)
    for excluded in ranking.excluded:
        group = shown[excluded.reason.split(":", 1)[0]]
        if len(group) < TABLE_ROWS_PER_REASON:
            group.append(excluded.post_id)
    ids = {item.post_id for item in ranking.items}.union(*shown.values())
    posts: dict[int, Post] = {}
    for chunk in chunked(ids):
        posts.update(
            (post.id, post) for post in session.scalars(select(Post).where(Post.id.in_(chunk)))
        )
    return ranking, posts


def _line(text: str, width: int) -> str:
    """One terminal-safe line: titles are untrusted, so control characters (escapes) go."""
    clean = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in text)
    clean = " ".join(clean.split())
    return clean if len(clean) <= width else clean[: width - 1] + "…"


def _coverage(item: RankedItem) -> str:
    """'covered by 4 sources (5 posts): Reuters, DW, …' from the reasons, read defensively."""
    coverage = item.reasons.get("coverage")
    coverage = coverage if isinstance(coverage, dict) else {}
    count, posts, names = coverage.get("count"), coverage.get("posts"), coverage.get("sources")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return f"[duplicates: {', '.join(map(str, item.duplicates))}]" if item.duplicates else ""
    copies = isinstance(posts, int) and not isinstance(posts, bool) and posts > count
    if count == 1 and not copies:
        return ""  # one post from one outlet: the summary already says so
    text = f"covered by {count} source{'' if count == 1 else 's'}"
    if copies:
        text += f" ({posts} posts)"
    if isinstance(names, list):
        # Each name made terminal-safe on its own, so one long name cannot hide the rest.
        shown = [_line(name, SOURCE_NAME_WIDTH) for name in names if isinstance(name, str)]
        if any(shown):
            text += ": " + ", ".join(name for name in shown if name)
    return _line(text, COVERAGE_WIDTH)


def format_ranking_table(ranking: Ranking, posts_by_id: Mapping[int, Post]) -> str:
    """The text `digest rank` prints: the listed posts with reasons, then the left-out by reason."""
    lines = [f"{ranking.week}: {len(ranking.items)} posts listed"]
    if ranking.note:
        lines.append(f"note: {_line(ranking.note, 200)}")
    if ranking.items and not ranking.engagement_data:
        lines.append(NO_ENGAGEMENT)
    lines.append(f"{'#':>3}  {'score':>8}  {'source':<20}  title")
    for item in ranking.items:
        post = posts_by_id.get(item.post_id)
        source = _line(post.source, 20) if post else "?"
        title = _line(post.title, 70) if post else f"(post {item.post_id})"
        lines.append(f"{item.rank:>3}  {item.score:>8.4f}  {source:<20}  {title}")
        summary = _line(str(item.reasons.get("summary") or ""), 200)
        coverage = _coverage(item)
        lines += [f"{'':>15}{text}" for text in (summary, coverage) if text]
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for excluded in ranking.excluded:
        kind, _, detail = excluded.reason.partition(":")
        groups[kind].append((excluded.post_id, detail))
    if groups:
        lines += ["", f"excluded ({len(ranking.excluded)}):"]
    for kind in sorted(groups):
        lines.append(f"  {kind} ({len(groups[kind])})")
        for post_id, detail in groups[kind][:TABLE_ROWS_PER_REASON]:
            post = posts_by_id.get(post_id)
            title = _line(post.title, 70) if post else f"(post {post_id})"
            lines.append(
                f"    {post_id:>7}  {title}" + (f"  [{_line(detail, 40)}]" if detail else "")
            )
        if len(groups[kind]) > TABLE_ROWS_PER_REASON:
            lines.append(f"    … and {len(groups[kind]) - TABLE_ROWS_PER_REASON} more")
    return "\n".join(lines) + "\n"
