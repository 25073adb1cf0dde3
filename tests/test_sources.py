"""Sources: the migration, editor weights, readers' click records, the table the admin sees."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.cli import main
from app.config import get_settings
from app.db import make_engine
from app.issues.drafts import draft_issue, rank_posts
from app.migrate import alembic_config, upgrade
from app.models import Base, Issue, IssueItem, IssueStatus, Post, SourceWeight
from app.ranking.click_prior import ClickRecord, source_click_priors
from app.ranking.sources import (
    InvalidSourceWeight,
    click_records,
    set_source_weight,
    source_table,
    source_weights,
)
from tests.conftest import create_postgres_database, drop_postgres_database, needs_postgres
from tests.test_issues import WEEK, seed_week

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday of 2026-W49: W48 just ended
LATER = NOW + timedelta(hours=1)
_urls = iter(range(1, 1_000_000))


def add_post(session: Session, *, source: str, at: datetime) -> Post:
    """A post of `source` published `at` (metrics do not matter here)."""
    post = Post(
        url=f"https://news.example.org/{next(_urls)}",
        title="Solar news",
        summary="",
        source=source,
        topics=["solar"],
        published_at=at,
        views=0,
        likes=0,
        shares=0,
        comments=0,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(post)
    return post


def add_issue(session: Session, *, week: str, status: str, items: list[tuple[str, int]]) -> Issue:
    """An issue of `week` listing one new post per (source, clicks), ranked in that order."""
    issue = Issue(
        week=week,
        status=status,
        subject=f"Issue {week}",
        intro="",
        pins=[],
        drops=[],
        created_at=NOW,
        updated_at=NOW,
    )
    for rank, (source, clicks) in enumerate(items, start=1):
        post = add_post(session, source=source, at=NOW - timedelta(weeks=20))
        issue.items.append(IssueItem(post=post, rank=rank, score=1.0, reasons={}, clicks=clicks))
    session.add(issue)
    session.flush()
    return issue


# --- the migration --------------------------------------------------------------------------------


def test_the_migration_makes_the_table_with_its_key_and_columns(db):
    schema = inspect(db.connection())
    assert "source_weights" in schema.get_table_names()
    columns = {c["name"]: c for c in schema.get_columns("source_weights")}
    assert set(columns) == {"source_key", "name", "weight", "updated_at"}
    assert not any(c["nullable"] for c in columns.values())
    assert schema.get_pk_constraint("source_weights")["constrained_columns"] == ["source_key"]


@pytest.mark.parametrize("weight", [-0.1, 10.01, math.nan])
def test_the_database_itself_refuses_a_weight_out_of_range(db, weight):
    insert = text(
        "INSERT INTO source_weights (source_key, name, weight, updated_at) "
        "VALUES ('reuters', 'Reuters', :weight, :at)"
    )
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(insert, {"weight": weight, "at": NOW.replace(tzinfo=None)})
    assert db.scalar(select(SourceWeight)) is None


def test_the_model_matches_the_migrated_table(db):
    context = MigrationContext.configure(db.connection())
    differences = [
        diff for diff in compare_metadata(context, Base.metadata) if "source_weights" in repr(diff)
    ]
    assert differences == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[needs_postgres])])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty database of each backend that this test alone migrates."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_postgres_database("sources")
    yield url
    drop_postgres_database(url)


def test_the_migration_goes_down_to_0001_and_up_again(fresh_url):
    engine = make_engine(fresh_url)

    def tables() -> set[str]:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())

    try:
        upgrade(fresh_url)
        assert {"source_weights", "posts", "issues"} <= tables()
        command.downgrade(alembic_config(fresh_url), "0001")
        assert "source_weights" not in tables() and "posts" in tables()
        upgrade(fresh_url)
        assert "source_weights" in tables()
    finally:
        engine.dispose()


# --- editor weights -------------------------------------------------------------------------------


def test_a_weight_is_stored_under_the_stripped_casefolded_name(db):
    row = set_source_weight(db, source="  Deutsche Welle ", weight=2.5, now=NOW)
    db.commit()
    assert (row.source_key, row.name, row.weight, row.updated_at) == (
        "deutsche welle",
        "Deutsche Welle",
        2.5,
        NOW,
    )
    assert source_weights(db) == {"deutsche welle": 2.5}


def test_setting_it_again_under_another_spelling_updates_the_one_row(db):
    set_source_weight(db, source="Reuters", weight=3, now=NOW)
    row = set_source_weight(db, source="REUTERS", weight=0.5, now=LATER)
    db.commit()
    rows = db.scalars(select(SourceWeight)).all()
    assert rows == [row]
    assert (row.name, row.weight, row.updated_at) == ("REUTERS", 0.5, LATER)


@pytest.mark.parametrize("weight", [0, 0.0, 1, 1.0, 7.25, 10])
def test_every_weight_from_0_to_10_is_kept_even_the_default(db, weight):
    set_source_weight(db, source="Bloomberg", weight=weight, now=NOW)
    db.commit()
    assert source_weights(db) == {"bloomberg": float(weight)}


@pytest.mark.parametrize(
    ("source", "weight", "reason"),
    [
        ("Reuters", -0.5, "weight must be from 0 to 10, got -0.5"),
        ("Reuters", 10.5, "weight must be from 0 to 10, got 10.5"),
        ("Reuters", math.nan, "weight must be a finite number"),
        ("Reuters", math.inf, "weight must be a finite number"),
        ("Reuters", "2", "weight must be a number"),
        ("Reuters", None, "weight must be a number"),
        ("Reuters", True, "weight must be a number"),
        ("", 2.0, "source must be a name, not empty"),
        ("   ", 2.0, "source must be a name, not empty"),
        (None, 2.0, "source must be a name, not empty"),
        ("x" * 201, 2.0, "source must be at most 200 characters"),
        ("Reu\nters", 2.0, "source must be one line without control characters"),
        ("Reu\x00ters", 2.0, "source must be one line without control characters"),
    ],
)
def test_a_bad_name_or_weight_is_refused_and_nothing_is_stored(db, source, weight, reason):
    with pytest.raises(InvalidSourceWeight) as refused:
        set_source_weight(db, source=source, weight=weight, now=NOW)
    assert str(refused.value) == reason
    assert db.scalar(select(SourceWeight)) is None


def test_a_name_of_200_characters_is_fine_even_when_casefolding_lengthens_it(db):
    name = "ß" * 200  # casefolds to 400 characters
    row = set_source_weight(db, source=name, weight=2, now=NOW)
    db.commit()
    assert db.get(SourceWeight, "ss" * 200) is row


def test_both_problems_are_named_at_once(db):
    with pytest.raises(InvalidSourceWeight, match="source must be a name.*; weight must be a num"):
        set_source_weight(db, source=" ", weight="heavy", now=NOW)


# --- readers' click records -----------------------------------------------------------------------


def test_click_records_come_from_mailed_issues_of_the_weeks_before(db):
    add_issue(db, week="2026-W47", status=IssueStatus.SENT, items=[("Reuters", 30), ("DW", 5)])
    add_issue(db, week="2026-W46", status=IssueStatus.PAUSED, items=[("Bloomberg", 4)])
    add_issue(db, week="2026-W45", status=IssueStatus.SENDING, items=[("El País", 2)])
    # Left out: never mailed, the week itself, a later week, and older than 12 weeks.
    add_issue(db, week="2026-W44", status=IssueStatus.DRAFT, items=[("Draft Daily", 9)])
    add_issue(db, week="2026-W43", status=IssueStatus.CANCELLED, items=[("Gone Gazette", 9)])
    add_issue(db, week="2026-W48", status=IssueStatus.SENT, items=[("This Week", 9)])
    add_issue(db, week="2026-W49", status=IssueStatus.SENT, items=[("Next Week", 9)])
    add_issue(db, week="2026-W36", status=IssueStatus.SENT, items=[("Oldest Kept", 1)])
    add_issue(db, week="2026-W35", status=IssueStatus.SENT, items=[("Too Old", 9)])

    assert click_records(db, before_week="2026-W48") == [
        ClickRecord("2026-W36", 1, "Oldest Kept", 1),
        ClickRecord("2026-W45", 1, "El País", 2),
        ClickRecord("2026-W46", 1, "Bloomberg", 4),
        ClickRecord("2026-W47", 1, "Reuters", 30),
        ClickRecord("2026-W47", 2, "DW", 5),
    ]
    assert [r.source for r in click_records(db, before_week="2026-W48", weeks=2)] == [
        "Bloomberg",
        "Reuters",
        "DW",
    ]


def test_click_records_cross_the_new_year(db):
    add_issue(db, week="2026-W52", status=IssueStatus.SENT, items=[("Reuters", 3)])
    add_issue(db, week="2026-W53", status=IssueStatus.SENT, items=[("DW", 4)])
    assert [r.week for r in click_records(db, before_week="2027-W01", weeks=1)] == ["2026-W53"]
    assert click_records(db, before_week="2026-W52") == []


def test_click_records_need_a_real_week(db):
    with pytest.raises(ValueError, match="week must look like 2026-W48"):
        click_records(db, before_week="last week")


# --- the table the admin page shows ---------------------------------------------------------------


def test_the_source_table_counts_recent_posts_weights_and_clicks(db):
    for days in (1, 2, 3):
        add_post(db, source="Reuters", at=NOW - timedelta(days=days))
    add_post(db, source="reuters", at=NOW - timedelta(days=4))  # the same source
    add_post(db, source="DW", at=NOW - timedelta(days=5))
    add_post(db, source="DW", at=NOW - timedelta(weeks=2, days=1))  # before the window
    set_source_weight(db, source="DW", weight=2, now=NOW)
    set_source_weight(db, source="Quiet Quarterly", weight=0, now=NOW)
    items = [("Bloomberg", 90), ("DW", 5), ("Reuters", 5)]
    add_issue(db, week="2026-W47", status=IssueStatus.SENT, items=items)
    db.commit()

    rows = source_table(db, weeks=2, now=NOW)
    records = click_records(db, before_week="2026-W49")
    priors = source_click_priors(records)
    assert [(r.name, r.posts, r.weight, r.weight_set, r.listed, r.clicks) for r in rows] == [
        ("Reuters", 4, 1.0, False, 1, 5),
        ("DW", 1, 2.0, True, 1, 5),
        ("Bloomberg", 0, 1.0, False, 1, 90),
        ("Quiet Quarterly", 0, 0.0, True, 0, 0),
    ]
    by_name = {r.name: r for r in rows}
    assert by_name["Bloomberg"].click_prior == priors["bloomberg"] > 1
    assert by_name["Reuters"].click_prior == priors["reuters"] < 1
    assert by_name["Quiet Quarterly"].click_prior is None
    # Older posts show with a longer window.
    assert {r.name: r.posts for r in source_table(db, weeks=3, now=NOW)}["DW"] == 2


def _ranking_inputs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run rank_posts with `rank` replaced by a spy; returns what it was given."""
    seen: dict[str, Any] = {}

    def spy(candidates: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return "ranking"

    monkeypatch.setattr("app.issues.drafts.rank", spy)
    return seen


def test_rank_posts_hands_the_weights_and_click_priors_to_the_ranking(db, settings, monkeypatch):
    seen = _ranking_inputs(monkeypatch)
    set_source_weight(db, source="DW", weight=3, now=NOW)
    add_issue(db, week="2026-W47", status=IssueStatus.SENT, items=[("Bloomberg", 90), ("DW", 5)])
    add_issue(db, week="2026-W48", status=IssueStatus.SENT, items=[("Reuters", 50), ("DW", 1)])
    db.commit()

    result = rank_posts(db, week="2026-W48", pins=[], drops=[], now=NOW, settings=settings)
    assert result == "ranking"
    assert dict(seen["rules"].source_weights) == {"dw": 3.0}
    # Only the issues before W48: W48's own clicks must not decide W48's ranking.
    expected = source_click_priors(click_records(db, before_week="2026-W48"))
    assert seen["click_priors"] == expected and set(expected) == {"bloomberg", "dw"}


def test_a_drafted_issue_follows_the_weights_and_carries_the_click_prior(db, settings):
    posts = seed_week(db)  # four Deutsche Welle posts among others
    add_issue(db, week="2026-W47", status=IssueStatus.SENT, items=[("Reuters", 90), ("DW", 1)])
    set_source_weight(db, source="deutsche welle", weight=0, now=NOW)
    db.commit()

    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    sources = [item.post.source for item in issue.items]
    assert issue.items and "Deutsche Welle" not in sources
    reuters = next(item for item in issue.items if item.post.source == "Reuters")
    prior = source_click_priors(click_records(db, before_week=WEEK))["reuters"]
    assert reuters.reasons["click_prior"] == round(prior, 3) and prior > 1
    assert reuters.reasons["source_weight"] == 1.0

    # A pin still lists a weight-0 source; its weight shows among the reasons.
    pinned = posts["offshore"]
    issue.pins = [pinned.id]
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    assert issue.items[0].post_id == pinned.id
    assert issue.items[0].reasons["source_weight"] == 0.0
    assert [i.post.source for i in issue.items].count("Deutsche Welle") == 1


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def digest(tmp_path, monkeypatch):
    """Invoke `digest` against its own embedded database in an empty folder."""
    for name in list(os.environ):
        if name.startswith("DIGEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()

    def invoke(*args: str):
        get_settings.cache_clear()
        return runner.invoke(main, list(args), catch_exceptions=False)

    invoke("migrate")
    yield invoke
    get_settings.cache_clear()


def test_digest_sources_set_and_list(digest):
    assert digest("sources", "set", " Carbon Brief ", "2.5").output == "Carbon Brief: weight 2.5\n"
    listed = digest("sources", "list")
    assert listed.exit_code == 0
    assert "     0     2.5       0      —  Carbon Brief\n" in listed.output
    for args, reason in [
        (("Carbon Brief", "11"), "weight must be from 0 to 10, got 11"),
        (("Carbon Brief", "nan"), "weight must be a finite number"),
        (("  ", "2"), "source must be a name, not empty"),
    ]:
        refused = digest("sources", "set", *args)
        assert refused.exit_code == 1 and reason in refused.output
    assert digest("sources", "set", "Carbon Brief", "x").exit_code == 2  # not a number
    assert "     0     2.5" in digest("sources", "list").output  # unchanged
