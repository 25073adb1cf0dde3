"""What `digest rank` prints for each listed story: its summary and who covered it, safely."""

from __future__ import annotations

from datetime import UTC, datetime

from app.models import Post
from app.ranking.report import NO_ENGAGEMENT, format_ranking_table
from app.ranking.score import RankedItem, Ranking

PUBLISHED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def post(post_id: int, title: str, source: str) -> Post:
    """A post as the table reads it (never stored)."""
    return Post(
        id=post_id,
        url=f"https://news.example.org/{post_id}",
        title=title,
        source=source,
        published_at=PUBLISHED,
    )


def item(rank: int, post_id: int, **reasons: object) -> RankedItem:
    return RankedItem(rank=rank, post_id=post_id, score=1.0 / rank, reasons=reasons)


def rows_of(table: str, title: str) -> list[str]:
    """The title's row and the indented lines under it, up to the next ranked row."""
    lines = table.splitlines()
    start = next(n for n, line in enumerate(lines) if title in line)
    end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith(" " * 15)), None)
    return lines[start:end]


def test_each_story_shows_its_summary_then_who_covered_it() -> None:
    outlets = ["Reuters", "Deutsche Welle", "Electrek", "Grist"]
    summary = "covered by 4 outlets; readers clicked this source 1.8× the usual"
    story = item(
        1,
        1,
        summary=summary,
        coverage={"count": 4, "sources": outlets, "posts": 5},
        duplicates=[2, 3, 4, 5],
    )
    lone = item(2, 6, summary="one outlet", coverage={"count": 1, "sources": ["Heatmap"]})
    posts = {1: post(1, "CATL starts mass production", "Reuters"), 6: post(6, "Reconduct", "H")}
    table = format_ranking_table(Ranking("2026-W48", [story, lone], engagement_data=True), posts)
    first = rows_of(table, "CATL starts mass production")
    assert first[1].strip() == summary
    assert first[2].strip() == f"covered by 4 sources (5 posts): {', '.join(outlets)}"
    assert len(rows_of(table, "Reconduct")) == 2  # one outlet, one post: the summary says it
    assert NO_ENGAGEMENT not in table


def test_a_long_hostile_list_of_sources_is_cut_and_made_terminal_safe() -> None:
    names = ["Evil\x1b[2J\x1b[31mNews\r\nBcc", "A" * 300] + [f"Outlet {n}" for n in range(40)]
    hostile = item(1, 1, summary="x\x1b]0;owned\x07", coverage={"count": 42, "sources": names})
    ranking = Ranking("2026-W48", [hostile])
    table = format_ranking_table(ranking, {1: post(1, "Story", "Evil")})
    assert "\x1b" not in table and "\r" not in table and "\x07" not in table
    coverage = rows_of(table, "Story")[2].strip()
    assert coverage.startswith("covered by 42 sources: Evil [2J [31mNews Bcc, AAAA")
    assert coverage.endswith("…") and len(coverage) <= 110
    assert "A" * 40 not in coverage  # one long name is cut on its own, the next names still show
    assert ", Outlet 0" in coverage


def test_old_or_odd_reasons_are_read_defensively() -> None:
    old = RankedItem(
        rank=1, post_id=1, score=0.5, reasons={"summary": "typical engagement"}, duplicates=(7, 9)
    )
    odd = item(2, 2, summary="s", coverage={"count": "many", "sources": "Reuters"})
    copy = item(3, 3, summary="c", coverage={"count": 1, "sources": ["Reuters"], "posts": 2})
    posts = {1: post(1, "Old", "R"), 2: post(2, "Odd", "R"), 3: post(3, "Wire", "R")}
    table = format_ranking_table(Ranking("2026-W48", [old, odd, copy]), posts)
    assert rows_of(table, "Old")[2].strip() == "[duplicates: 7, 9]"
    assert rows_of(table, "Odd") == [rows_of(table, "Odd")[0], " " * 15 + "s"]
    assert rows_of(table, "Wire")[2].strip() == "covered by 1 source (2 posts): Reuters"


def test_a_week_without_engagement_figures_says_how_it_was_ranked() -> None:
    ranking = Ranking(
        "2026-W48", [item(1, 1, summary="covered by 3 outlets")], engagement_data=False
    )
    table = format_ranking_table(ranking, {1: post(1, "Story", "Reuters")})
    assert table.splitlines()[1] == NO_ENGAGEMENT
    assert NO_ENGAGEMENT not in format_ranking_table(
        Ranking("2026-W48", [], engagement_data=False), {}
    )
