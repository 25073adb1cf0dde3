"""The review of an issue with reader sections (app/issues/review.py, the admin issue page and the
issue JSON): each post's sections, what a reader of only one section gets, who gets what."""

# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import event

from app.issues.drafts import draft_issue
from app.issues.review import section_review
from app.issues.segments import IssueVariants, plan_segments
from app.models import IssueSegment
from tests.test_admin import admin_client, editor, item_block  # noqa: F401 - fixtures
from tests.test_segments import NOW, WEEK, add_reader, add_week, week_settings  # noqa: F401

LABELS = {"solar": "Solar", "wind": "Wind", "policy": "Policy", "nuclear": "Nuclear"}


@pytest.fixture
def issue(db, week_settings):
    """A draft where Policy is short (3 posts) and Nuclear has none, and readers of four kinds."""
    add_week(db, {"solar": 12, "wind": 12, "policy": 3})
    drafted = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    add_reader(db, "all1")
    add_reader(db, "all2")
    add_reader(db, "wind1", sections="wind")
    add_reader(db, "wind2", sections="wind")
    add_reader(db, "wp", sections="wind,policy")
    add_reader(db, "monthly", cadence="monthly")  # W47 is not November's last week
    db.commit()
    return drafted


def _section_block(page: str, key: str) -> str:
    start = page.index(f'id="section-{key}"')
    start = page.rindex("<details", 0, start)
    return page[start : page.index("</details>", start)]


def _segment_rows(page: str) -> list[tuple[str, ...]]:
    start = page.index('<table class="segments')
    table = page[start : page.index("</table>", start)]
    rows = re.findall(
        r"<tr><td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>"
        r"\s*<td[^>]*>(.*?)</td></tr>",
        table,
    )
    return [tuple(cell.strip() for cell in row) for row in rows]


def test_each_post_shows_the_sections_its_story_is_in(admin_client, db, issue):
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    seen: list[int] = []
    for item in issue.items:
        block = item_block(page, item.post.title)
        tags = re.findall(r'<span class="section-tag">(.*?)</span>', block)
        assert tags == [LABELS[key] for key in item.sections.split(",") if key], item.post.title
        seen.append(len(tags))
    assert min(seen) >= 1 and max(seen) >= 1


def test_each_section_shows_what_its_readers_alone_get(admin_client, db, issue, week_settings):
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    variants = IssueVariants(db, issue, settings=week_settings)
    for section in week_settings.sections.all:
        block = _section_block(page, section.key)
        assert "open" not in block[: block.index(">")]  # folded until the editor opens it
        variant = variants.variant([section.key])
        titles = re.findall(r'target="_blank">(.*?)</a>', block)
        assert titles == [html.escape(item.post.title, quote=False) for item in variant.items]
        extras = [item for item in variant.items if not item.overall]
        assert block.count('class="flag flag-extra"') == len(extras)
    policy = _section_block(page, "policy")
    assert "3 of 10 from the section" in policy
    assert policy.count("filled in from the overall top") == 7
    assert "The section had 3 posts this week" in policy
    nuclear = _section_block(page, "nuclear")
    assert "0 of 10 from the section" in nuclear
    assert nuclear.count("filled in from the overall top") == 10
    wind = _section_block(page, "wind")
    assert "filled in from the overall top" not in wind
    assert 'class="flag flag-extra"' in wind  # Wind's best beyond the overall top


def test_who_gets_what_for_a_draft_is_the_send_if_started_now(admin_client, db, issue):
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    assert "If sent now" in page
    assert _segment_rows(page) == [
        ("everything", "weekly", "2", "10"),
        ("Wind", "weekly", "2", "10"),
        ("Wind and Policy", "weekly", "1", "10"),
    ]
    # A new reader shows at once: the table is not stored for a draft.
    add_reader(db, "policy1", sections="policy")
    db.commit()
    rows = _segment_rows(admin_client.get(f"/admin/issues/{issue.id}").text)
    assert ("Policy", "weekly", "1", "10") in rows


def test_a_sent_issue_shows_the_segments_stored_at_its_send(admin_client, db, issue):
    overall = [item.id for item in issue.items]
    db.add(
        IssueSegment(
            issue_id=issue.id,
            number=0,
            sections="",
            cadence="weekly",
            item_ids=overall,
            readers=1234,
            created_at=NOW,
        )
    )
    db.add(
        IssueSegment(
            issue_id=issue.id,
            number=1,
            sections="solar,policy",
            cadence="weekly",
            item_ids=overall[:4],
            readers=56,
            created_at=NOW,
        )
    )
    issue.status, issue.sent_at = "sent", NOW
    db.commit()
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    assert "As fixed when the send started" in page and "If sent now" not in page
    assert _segment_rows(page) == [
        ("everything", "weekly", "1,234", "10"),
        ("Solar and Policy", "weekly", "56", "4"),
    ]
    assert 'value="pin:' not in page  # read-only
    assert _section_block(page, "policy")  # the sections part is still there to look at


def test_a_sent_issue_from_before_sections_says_everyone_got_the_overall_list(
    admin_client,
    db,
    issue,
):
    issue.status, issue.sent_at = "sent", NOW
    db.commit()
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    assert "every reader got the overall list" in page
    assert '<table class="segments' not in page


def test_the_sections_part_takes_the_same_few_queries_however_many_sections(
    db, engine, issue, week_settings
):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        review = section_review(db, issue, settings=week_settings, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [lst.key for lst in review.lists] == ["solar", "wind", "policy", "nuclear"]
    # One variants build (two queries), the readers' choices, another variants build.
    queries = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(queries) <= 5, queries


def test_the_issue_json_lists_item_sections_and_segments(
    client, admin_headers, db, issue, week_settings
):
    answer = client.get(f"/api/issues/{issue.id}", headers=admin_headers)
    assert answer.status_code == 200
    body = answer.json()
    by_post = {item.post_id: item for item in issue.items}
    for item in body["items"]:
        assert item["sections"] == by_post[item["post"]["id"]].sections.split(",")
        assert {"rank", "score", "reasons", "clicks", "post"} <= set(item)
    planned = plan_segments(db, issue, settings=week_settings, now=NOW)
    assert body["segments"] == [
        {
            "number": segment.number,
            "sections": list(segment.variant.sections),
            "cadence": segment.variant.cadence,
            "readers": segment.readers,
            "items": [item.post_id for item in segment.variant.items],
        }
        for segment in planned
    ]
    assert [s["readers"] for s in body["segments"]] == [2, 2, 1]
    assert body["segments"][1]["sections"] == ["wind"]
    assert {"excluded", "counts", "week", "status", "subject"} <= set(body)


def test_the_issue_json_of_a_sent_issue_has_its_stored_segments(client, admin_headers, db, issue):
    ids = [item.id for item in issue.items]
    db.add(
        IssueSegment(
            issue_id=issue.id,
            number=0,
            sections="",
            cadence="weekly",
            item_ids=ids[::-1],
            readers=7,
            created_at=NOW,
        )
    )
    issue.status, issue.sent_at = "sent", NOW
    db.commit()
    body = client.get(f"/api/issues/{issue.id}", headers=admin_headers).json()
    assert body["segments"] == [
        {
            "number": 0,
            "sections": [],
            "cadence": "weekly",
            "readers": 7,
            "items": [item.post_id for item in issue.items][::-1],
        }
    ]
    listing = client.get("/api/issues", headers=admin_headers).json()
    assert listing["items"][0]["items"][0]["sections"]  # item sections in pages too
