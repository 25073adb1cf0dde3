"""Issues: drafting a week's top posts, editing the draft, the API, `digest rank`, and races."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import make_engine
from app.issues.drafts import default_subject, draft_issue, prepare_draft, update_issue
from app.issues.errors import InvalidEdit, IssueLocked
from app.migrate import upgrade
from app.models import Delivery, Issue, IssueItem, IssueStatus, Post, Subscriber
from app.ranking.report import format_ranking_table, rank_week
from tests.conftest import create_postgres_database, drop_postgres_database, needs_postgres

WEEK = "2026-W48"  # Monday 2026-11-23 to Monday 2026-11-30, UTC
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the frozen_clock's time: W48 just ended
DW = "Deutsche Welle"

# name: (source, title, topics, days after Monday, views, likes, shares, comments)
WEEK_POSTS: dict[str, tuple[str, str, list[str], float, int, int, int, int]] = {
    "alaska": (
        DW,
        "Trump-Putin meeting in Alaska: How is China viewing it?",
        ["public governance", "energy"],
        0.3,
        20000,
        3000,
        400,
        120,
    ),
    "offshore": (
        DW,
        "Germany's grid operators race to connect offshore wind",
        ["wind"],
        1.2,
        15000,
        1500,
        200,
        50,
    ),
    "heatpumps": (
        DW,
        "Heat pumps outsell gas boilers across Europe",
        ["efficiency"],
        2.5,
        12000,
        1400,
        150,
        40,
    ),
    "hydrogen": (
        DW,
        "Hydrogen valleys: which regions are ready?",
        ["hydrogen"],
        3.1,
        10000,
        1200,
        160,
        30,
    ),
    "solar": ("Reuters", "Spain sets new solar power record", ["solar"], 2.2, 8000, 900, 120, 20),
    "solar_dup": (
        "El País",
        "Spain sets a new solar power record",
        ["solar"],
        2.4,
        3000,
        200,
        20,
        5,
    ),
    "batteries": (
        "Bloomberg",
        "Battery prices fall below $100 per kWh",
        ["batteries"],
        4.0,
        9000,
        700,
        90,
        30,
    ),
    "peat": (
        "The Guardian",
        "Peatland restoration slows carbon loss",
        ["biodiversity", "carbon"],
        5.5,
        4000,
        500,
        80,
        25,
    ),
    "cup": ("ESPN", "Local team wins the cup final", ["sports"], 1.0, 50000, 9000, 2000, 800),
    "cop": ("Carbon Brief", "Analysis: what COP31 means for coal", [], 6.5, 1500, 200, 40, 10),
    "phone": ("Tech Daily", "New smartphone launches", [], 3.0, 7000, 600, 50, 40),
}
SUMMARIES = {"cop": "The climate talks ended with a deal on coal.", "phone": "A phone."}
# Listed: 3 of the 4 Deutsche Welle posts, one of the two solar stories, batteries, peat, cop.
EXPECTED_LISTED = 7


def add_post(session: Session, name: str, spec: tuple, *, at: datetime | None = None) -> Post:
    """Store one post; `at` overrides the publication time."""
    source, title, topics, day, views, likes, shares, comments = spec
    post = Post(
        url=f"https://news.example.org/{name}",
        title=title,
        summary=SUMMARIES.get(name, f"About {title.lower()}."),
        image_url=None,
        author="Newsroom",
        source=source,
        topics=topics,
        published_at=at or MONDAY + timedelta(days=day),
        read_minutes=3,
        views=views,
        likes=likes,
        shares=shares,
        comments=comments,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(post)
    return post


def seed_week(session: Session) -> dict[str, Post]:
    """The realistic week above plus one post just before and one just after it."""
    posts = {name: add_post(session, name, spec) for name, spec in WEEK_POSTS.items()}
    wind = (DW, "Old news about wind", ["wind"], 0, 90000, 9000, 900, 90)
    posts["before"] = add_post(session, "before", wind, at=MONDAY - timedelta(seconds=1))
    posts["after"] = add_post(session, "after", wind, at=MONDAY + timedelta(days=7))
    session.flush()
    return posts


def listed_ids(issue: Issue) -> list[int]:
    return [item.post_id for item in issue.items]


# --- drafting -----------------------------------------------------------------------------------


def test_draft_lists_the_week_with_rules_applied(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    ids = listed_ids(issue)
    assert len(ids) == EXPECTED_LISTED
    assert [item.rank for item in issue.items] == list(range(1, EXPECTED_LISTED + 1))
    scores = [item.score for item in issue.items]
    assert scores == sorted(scores, reverse=True)
    assert posts["cup"].id not in ids and posts["phone"].id not in ids  # off-topic
    assert posts["cop"].id in ids  # no topics, but its summary says "climate"
    assert posts["before"].id not in ids and posts["after"].id not in ids
    by_id = {post.id: post for post in posts.values()}
    assert sum(by_id[pid].source == DW for pid in ids) == settings.max_per_source
    solar = {posts["solar"].id, posts["solar_dup"].id}
    [winner] = [item for item in issue.items if item.post_id in solar]
    assert winner.reasons["duplicates"] == list(solar - {winner.post_id})
    assert all({"summary", "pinned", "duplicates"} <= set(item.reasons) for item in issue.items)
    assert issue.status == IssueStatus.DRAFT and issue.ranked_at == NOW
    subject = f"Your top {EXPECTED_LISTED} sustainability & energy posts — week 48, 2026"
    assert issue.subject == subject
    assert issue.note and WEEK in issue.note  # short issue: the note says why


def test_refresh_keeps_the_issue_its_pins_drops_and_an_editor_subject(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    top, last = issue.items[0].post_id, issue.items[-1].post_id
    update_issue(
        db,
        issue_id=issue.id,
        pin=[last],
        drop=[top],
        subject="Our pick",
        now=NOW,
        settings=settings,
    )
    posts["peat"].likes = 3900  # engagement moved since the draft
    later = NOW + timedelta(hours=2)
    again = draft_issue(db, week=WEEK, now=later, settings=settings)
    assert again.id == issue.id
    assert db.scalar(select(func.count()).select_from(Issue)) == 1
    assert listed_ids(again)[0] == last and top not in listed_ids(again)
    assert again.items[0].reasons["pinned"] is True
    assert (again.pins, again.drops, again.subject, again.ranked_at) == (
        [last],
        [top],
        "Our pick",
        later,
    )


def test_default_subject_follows_the_count_until_an_editor_writes_one(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    update_issue(db, issue_id=issue.id, drop=[posts["peat"].id], now=NOW, settings=settings)
    assert len(issue.items) == EXPECTED_LISTED - 1
    assert issue.subject == default_subject(WEEK, EXPECTED_LISTED - 1)
    assert "top 6 " in issue.subject


def test_pinning_a_dropped_post_undrops_it_and_dropping_unpins(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    peat = posts["peat"].id
    update_issue(db, issue_id=issue.id, drop=[peat], now=NOW, settings=settings)
    assert (issue.pins, issue.drops, peat in listed_ids(issue)) == ([], [peat], False)
    update_issue(db, issue_id=issue.id, pin=[peat], now=NOW, settings=settings)
    assert (issue.pins, issue.drops, listed_ids(issue)[0]) == ([peat], [], peat)
    update_issue(db, issue_id=issue.id, drop=[peat], now=NOW, settings=settings)
    assert (issue.pins, issue.drops, peat in listed_ids(issue)) == ([], [peat], False)
    update_issue(db, issue_id=issue.id, undrop=[peat], now=NOW, settings=settings)
    assert (issue.drops, peat in listed_ids(issue)) == ([], True)


def test_an_editor_can_pin_an_off_topic_post_of_the_week(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    update_issue(db, issue_id=issue.id, pin=[posts["cup"].id], now=NOW, settings=settings)
    assert listed_ids(issue)[0] == posts["cup"].id


def test_a_pin_stays_listed_when_its_post_moves_out_of_the_week(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    update_issue(db, issue_id=issue.id, pin=[posts["peat"].id], now=NOW, settings=settings)
    posts["peat"].published_at = MONDAY - timedelta(days=2)  # a corrected date, after the pin
    draft_issue(db, week=WEEK, now=NOW, settings=settings)
    assert listed_ids(issue)[0] == posts["peat"].id  # editors win


def test_bad_edits_are_refused_whole_and_change_nothing(db, settings):
    posts = seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    before = (listed_ids(issue), issue.subject, issue.intro)
    missing = max(post.id for post in posts.values()) + 1000
    with pytest.raises(InvalidEdit) as caught:
        update_issue(
            db,
            issue_id=issue.id,
            pin=[missing, posts["after"].id],
            intro="Hi",
            subject="Hello\r\nBcc: victim@example.org",
            now=NOW,
            settings=settings,
        )
    message = str(caught.value)
    assert str(missing) in message and f"not published in {WEEK}: {posts['after'].id}" in message
    assert "one line" in message
    assert (listed_ids(issue), issue.subject, issue.intro) == before


def test_a_sent_issue_is_locked(db, settings):
    seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    issue.status = IssueStatus.SENT
    with pytest.raises(IssueLocked):
        draft_issue(db, week=WEEK, now=NOW, settings=settings)
    with pytest.raises(IssueLocked):
        update_issue(db, issue_id=issue.id, subject="Too late", now=NOW, settings=settings)


def test_posts_of_an_earlier_sent_issue_are_not_listed_again(db, settings):
    posts = seed_week(db)
    # A post now dated in W48 already went out with W47 (its date was corrected after the send).
    sent = Issue(
        week="2026-W47",
        status=IssueStatus.SENT,
        subject="W47",
        intro="",
        pins=[],
        drops=[],
        created_at=NOW,
        updated_at=NOW,
    )
    sent.items.append(IssueItem(post_id=posts["batteries"].id, rank=1, score=1.0, reasons={}))
    db.add(sent)
    db.flush()
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    assert posts["batteries"].id not in listed_ids(issue)
    assert len(issue.items) == EXPECTED_LISTED - 1
    sent.status = IssueStatus.CANCELLED  # nobody got it: the post is fair game again
    assert posts["batteries"].id in listed_ids(
        draft_issue(db, week=WEEK, now=NOW, settings=settings)
    )


def test_an_empty_week_gives_an_issue_with_no_items_and_a_note(db, settings):
    issue = draft_issue(db, week="2026-W40", now=NOW, settings=settings)
    assert issue.items == [] and issue.id is not None
    assert issue.note and "2026-W40" in issue.note
    assert issue.subject == "Your sustainability & energy posts — week 40, 2026"


def test_prepare_draft_says_whether_it_created(db, settings):
    seed_week(db)
    first = prepare_draft(db, week=WEEK, now=NOW, settings=settings)
    second = prepare_draft(db, week=WEEK, now=NOW, settings=settings)
    assert (first.created, second.created, second.issue.id) == (True, False, first.issue.id)
    assert [item.post_id for item in second.ranking.items] == listed_ids(second.issue)


# --- `digest rank` --------------------------------------------------------------------------------


def test_rank_table_shows_scores_reasons_and_what_was_left_out(db, settings):
    posts = seed_week(db)
    posts["cup"].title = "Local team wins \x1b[31mthe cup\x1b[0m final"  # a hostile title
    db.flush()
    ranking, by_id = rank_week(db, week=WEEK, now=NOW, settings=settings)
    table = format_ranking_table(ranking, by_id)
    assert db.scalar(select(func.count()).select_from(Issue)) == 0  # no side effects
    lines = table.splitlines()
    for item in ranking.items:
        [row] = [n for n, line in enumerate(lines) if by_id[item.post_id].title in line]
        assert lines[row].split()[:2] == [str(item.rank), f"{item.score:.4f}"]
        assert item.reasons["summary"] in lines[row + 1]
    assert "\x1b" not in table
    off_topic = table.index("off-topic (2)")
    assert table.index("Local team wins [31mthe cup [0m final") > off_topic
    assert "source-cap (1)" in table and "duplicate-of (1)" in table
    assert ranking.note in table


# --- the API --------------------------------------------------------------------------------------


def test_post_drafts_the_last_complete_week_then_refreshes(client, admin_headers, db, frozen_clock):
    posts = seed_week(db)
    db.commit()
    created = client.post("/api/issues", headers=admin_headers)
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["week"] == WEEK and data["status"] == "draft" and data["ranking_current"] is True
    assert len(data["items"]) == EXPECTED_LISTED
    reasons = {entry["post_id"]: entry["reason"] for entry in data["excluded"]}
    assert reasons[posts["cup"].id] == "off-topic" and data["excluded_counts"]["off-topic"] == 2
    again = client.post("/api/issues", headers=admin_headers, json={"week": WEEK})
    assert (again.status_code, again.json()["id"]) == (200, data["id"])


def test_issue_json_shape_and_delivery_counts(client, admin_headers, db, settings, frozen_clock):
    seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    states = ["pending", "sending", "sent", "sent", "failed", "bounced", "unknown"]
    for n, state in enumerate(states):
        reader = Subscriber(
            email=f"r{n}@example.org",
            status="confirmed",
            source="test",
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(reader)
        db.flush()
        db.add(
            Delivery(
                issue_id=issue.id, subscriber_id=reader.id, batch=0, state=state, updated_at=NOW
            )
        )
    db.commit()
    data = client.get(f"/api/issues/{issue.id}", headers=admin_headers).json()
    expected = {
        "id",
        "week",
        "status",
        "subject",
        "intro",
        "note",
        "items",
        "counts",
        "created_at",
        "ranked_at",
        "sent_at",
        "pause_reason",
        "excluded",
    }
    assert expected <= set(data)
    assert data["counts"] == {
        "total": 7,
        "pending": 2,
        "sent": 2,
        "failed": 1,
        "bounced": 1,
        "unknown": 1,
        "skipped": 0,
        "cancelled": 0,
    }
    item = data["items"][0]
    assert {"rank", "score", "reasons", "clicks", "post"} <= set(item)
    assert {
        "id",
        "url",
        "title",
        "summary",
        "image_url",
        "author",
        "source",
        "topics",
        "published_at",
        "read_minutes",
        "metrics",
    } <= set(item["post"])
    assert datetime.fromisoformat(item["post"]["published_at"]).utcoffset() == timedelta(0)
    assert set(item["post"]["metrics"]) == {"views", "likes", "shares", "comments"}
    listing = client.get("/api/issues", headers=admin_headers).json()
    assert listing["total"] == 1 and listing["items"][0]["counts"] == data["counts"]


def test_list_is_newest_week_first_and_paginated(client, admin_headers, frozen_clock):
    for week in ("2026-W40", "2026-W47", "2026-W45"):
        assert client.post("/api/issues", headers=admin_headers, json={"week": week}).is_success
    page = client.get("/api/issues?limit=2&offset=0", headers=admin_headers).json()
    assert [issue["week"] for issue in page["items"]] == ["2026-W47", "2026-W45"]
    rest = client.get("/api/issues?limit=2&offset=2", headers=admin_headers).json()
    assert ([issue["week"] for issue in rest["items"]], rest["total"]) == (["2026-W40"], 3)


def test_patch_pins_drops_and_retitles_a_draft(client, admin_headers, db, frozen_clock):
    posts = seed_week(db)
    db.commit()
    issue = client.post("/api/issues", headers=admin_headers).json()
    url = f"/api/issues/{issue['id']}"
    top = issue["items"][0]["post"]["id"]
    body = {"pin": [posts["cop"].id], "drop": [top], "subject": "Seven stories", "intro": "Hello"}
    edited = client.patch(url, headers=admin_headers, json=body)
    assert edited.status_code == 200, edited.text
    data = edited.json()
    assert data["items"][0]["post"]["id"] == posts["cop"].id
    assert top not in [item["post"]["id"] for item in data["items"]]
    titles = {post.id: post.title for post in posts.values()}
    assert {"post_id": top, "title": titles[top], "reason": "dropped"} in data["excluded"]
    assert (data["subject"], data["intro"], data["pins"], data["drops"]) == (
        "Seven stories",
        "Hello",
        [posts["cop"].id],
        [top],
    )
    assert client.get(url, headers=admin_headers).json()["items"] == data["items"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"week": "2026-W54"}, 422, "W54"),
        ({"week": "banana"}, 422, "2026-W48"),
        ({"week": 48}, 422, "string"),
        ({"week": "2027-W10"}, 422, "not begun"),
        ({"weeks": "2026-W48"}, 422, "unknown fields: weeks"),
        ([WEEK], 422, "object"),
    ],
)
def test_post_refuses_a_bad_week(client, admin_headers, frozen_clock, body, status, needle):
    response = client.post("/api/issues", headers=admin_headers, json=body)
    assert response.status_code == status and needle in response.json()["detail"]


def test_broken_json_is_400_and_admin_token_is_required(client, admin_headers, frozen_clock):
    broken = client.post(
        "/api/issues",
        headers={**admin_headers, "content-type": "application/json"},
        content=b'{"week": ',
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    assert client.post("/api/issues").status_code == 401
    assert client.get("/api/issues/999999", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"pin": [987654321]}, "no such posts: 987654321"),
        ({"pin": ["7"]}, "list of post ids"),
        ({"subject": "Line one\nBcc: x@example.org"}, "one line"),
        ({"subject": "Hello\r\nBcc: x@evil.example"}, "one line"),
        ({"subject": "Hello\rBcc: x@evil.example"}, "one line"),
        ({"subject": "Hello\u2028Bcc: x@evil.example"}, "one line"),
        ({"subject": "Hello\x00 world"}, "one line"),
        ({"subject": "Hello \u202eevil"}, "one line"),
        ({"intro": "Hi\r\nBcc: x@evil.example"}, "control characters"),
        ({"intro": "Hi \x1b[31mred"}, "control characters"),
        ({"subject": "  "}, "1 to 200"),
        ({"subject": "x" * 201}, "1 to 200"),
        ({"intro": "x" * 5001}, "5000"),
        ({"colour": "green"}, "unknown fields: colour"),
        ({}, "at least one"),
    ],
)
def test_patch_refuses_bad_edits(client, admin_headers, frozen_clock, body, needle):
    issue = client.post("/api/issues", headers=admin_headers).json()
    response = client.patch(f"/api/issues/{issue['id']}", headers=admin_headers, json=body)
    assert response.status_code == 422 and needle in response.json()["detail"]
    after = client.get(f"/api/issues/{issue['id']}", headers=admin_headers).json()
    assert after["subject"] == issue["subject"] and after["intro"] == issue["intro"]


def test_a_sent_issue_answers_409(client, admin_headers, db, frozen_clock):
    seed_week(db)
    db.commit()
    issue = client.post("/api/issues", headers=admin_headers).json()
    db.get(Issue, issue["id"]).status = IssueStatus.SENT
    db.commit()
    patch = client.patch(f"/api/issues/{issue['id']}", headers=admin_headers, json={"intro": "x"})
    post = client.post("/api/issues", headers=admin_headers, json={"week": WEEK})
    assert (patch.status_code, post.status_code) == (409, 409)
    assert "sent" in patch.json()["detail"]
    shown = client.get(f"/api/issues/{issue['id']}", headers=admin_headers).json()
    assert shown["excluded"] is None and shown["status"] == "sent"


# --- the beat task --------------------------------------------------------------------------------


def test_weekly_task_drafts_and_autosends_once(tmp_path, monkeypatch, published, frozen_clock):
    import app.config
    from workers import tasks

    url = f"sqlite:///{tmp_path / 'task.db'}"  # committed work: its own database
    upgrade(url)
    settings = Settings(var_dir=tmp_path, database_url=url, autosend=True)
    monkeypatch.setattr(app.config, "get_settings", lambda: settings)
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    engine = make_engine(url)
    with Session(engine) as session:
        seed_week(session)
        session.commit()
    issue_id = tasks.draft_weekly_issue_task()
    assert published == [("digest.start_send", (issue_id,))]
    with Session(engine) as session:
        assert session.get(Issue, issue_id).week == WEEK
        session.get(Issue, issue_id).status = IssueStatus.SENDING
        session.commit()
    assert tasks.draft_weekly_issue_task() is None  # a second beat run changes nothing
    assert len(published) == 1
    engine.dispose()


# --- one issue per week under concurrency (PostgreSQL) -------------------------------------------


@pytest.fixture
def race_database(tmp_path) -> Any:
    """A fresh, committed PostgreSQL database with the week's posts, and settings for it."""
    url = create_postgres_database("issues_race")
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        seed_week(session)
        session.commit()
    yield url, Settings(var_dir=tmp_path, database_url=url)
    engine.dispose()
    drop_postgres_database(url)


def _unique_violations(engine: Any) -> list[str]:
    """Record the unique violations the engine meets (observed, not altered)."""
    seen: list[str] = []

    def on_error(context: Any) -> None:
        if isinstance(context.sqlalchemy_exception, IntegrityError):
            seen.append(str(context.original_exception))

    event.listen(engine, "handle_error", on_error)
    return seen


@needs_postgres
def test_two_concurrent_drafts_make_one_issue(race_database):
    url, settings = race_database
    engines = [make_engine(url) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def draft(engine: Any) -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                barrier.wait()
                results.append(draft_issue(session, week=WEEK, now=NOW, settings=settings).id)
                session.commit()
        except BaseException as error:  # surfaced below: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=draft, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    with Session(engines[0]) as session:
        assert session.scalar(select(func.count()).select_from(Issue)) == 1
        query = select(func.count()).select_from(IssueItem).where(IssueItem.overall.is_(True))
        assert session.scalar(query) == EXPECTED_LISTED
    for engine in engines:
        engine.dispose()


@needs_postgres
def test_a_draft_racing_an_uncommitted_insert_joins_it(race_database):
    """Force the race: B inserts while A's insert is uncommitted, so B must wait and then join."""
    url, settings = race_database
    first_engine, second_engine = make_engine(url), make_engine(url)
    violations = _unique_violations(second_engine)
    outcome: dict[str, Any] = {}
    with Session(first_engine, expire_on_commit=False) as first:
        mine = prepare_draft(first, week=WEEK, now=NOW, settings=settings)

        def second_draft() -> None:
            try:
                with Session(second_engine, expire_on_commit=False) as second:
                    drafted = prepare_draft(second, week=WEEK, now=NOW, settings=settings)
                    second.commit()
                    outcome["draft"] = drafted
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=second_draft)
        thread.start()
        _wait_for_lock_wait(first)
        first.commit()
        thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    theirs = outcome["draft"]
    assert (mine.created, theirs.created, theirs.issue.id) == (True, False, mine.issue.id)
    assert len(violations) == 1 and "uq_issues_week" in violations[0]
    with Session(first_engine) as session:
        assert session.scalar(select(func.count()).select_from(Issue)) == 1
        overall = select(IssueItem).where(IssueItem.overall.is_(True))
        assert len(session.scalars(overall).all()) == EXPECTED_LISTED
    first_engine.dispose()
    second_engine.dispose()


def _wait_for_lock_wait(session: Session, timeout: float = 10.0) -> None:
    """Block until another backend waits on a lock (the second insert waiting for ours)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database() AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + timeout
    with session.get_bind().connect() as watcher:
        while watcher.execute(query).scalar() == 0:
            assert time.monotonic() < deadline, "the second draft never waited on the first"
            time.sleep(0.02)
            watcher.rollback()


@needs_postgres
def test_two_concurrent_post_api_issues_leave_one_issue(race_database, tmp_path):
    """The HTTP contract: two simultaneous POST /api/issues for one week, one issue row."""
    from fastapi.testclient import TestClient

    from app.web import create_app

    url, _ = race_database
    settings = Settings(
        var_dir=tmp_path / "api",
        database_url=url,
        secret_key=["race-secret-key-0123456789"],
        admin_token="race-admin-token",
    )
    barrier = threading.Barrier(2)
    answers: list[tuple[int, int]] = []

    def post() -> None:
        with TestClient(create_app(settings)) as client:
            barrier.wait()
            response = client.post(
                "/api/issues",
                json={"week": WEEK},
                headers={"Authorization": "Bearer race-admin-token"},
            )
            answers.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(code for code, _ in answers) == [200, 201]
    assert answers[0][1] == answers[1][1]
    engine = make_engine(url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Issue)) == 1
    engine.dispose()
