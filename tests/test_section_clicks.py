"""Clicks per section (app/tracking/clicks.py, app/tracking/sections.py): click tokens carry the
segment, `GET /r/{token}` counts per item and per chosen section, and the clicks of a section's
readers become per-source factors for that section's ranking (issue 13)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.delivery.engine import start_send
from app.issues.drafts import draft_issue
from app.issues.mail import digest_content
from app.issues.segments import IssueVariants
from app.models import IssueSegment, SectionClicks
from app.sections import Sections, parse_sections
from app.tokens import CLICK
from app.tracking.clicks import click_token, click_url, follow_click
from app.tracking.sections import (
    FACTOR_RANGE,
    clicked_sections,
    count_section_clicks,
    section_factors_from,
    section_source_factors,
)
from tests.test_clicks import BROWSER, OTHER_BROWSER
from tests.test_segments import NOW as SEGMENT_NOW
from tests.test_segments import WEEK as SEGMENT_WEEK
from tests.test_segments import add_reader, add_week
from tests.test_sending import T0, make_issue


def _segment(db, issue, number: int, sections: str, item_ids: list[int]) -> IssueSegment:
    segment = IssueSegment(
        issue_id=issue.id,
        number=number,
        sections=sections,
        cadence="weekly",
        item_ids=item_ids,
        readers=3,
        created_at=T0,
    )
    db.add(segment)
    db.flush()
    return segment


@pytest.fixture
def sent(db):
    """A sent issue of three items in sections, with an everything segment (0), a Wind and
    Grid one (1) and a Solar one (2)."""
    issue = make_issue(db, week="2026-W48")
    first, second, third = issue.items
    first.sections, second.sections, third.sections = "wind,solar", "grid", ""
    issue.status, issue.sent_at = "sent", T0
    ids = [item.id for item in issue.items]
    _segment(db, issue, 0, "", ids)
    _segment(db, issue, 1, "wind,grid", ids)
    _segment(db, issue, 2, "solar", ids)
    db.commit()
    return issue


def _follow(app, client, token: str, agent: str = BROWSER):
    return client.get(f"/r/{token}", headers={"User-Agent": agent}, follow_redirects=False)


def _token(app, item, segment=None) -> str:
    signer = app.state.digest.signer
    return click_token(signer, issue_id=item.issue_id, item_id=item.id, segment=segment)


def _counts(db, issue) -> tuple[list[int], dict[tuple[int, str], int]]:
    """Clicks per item (in rank order) and section_clicks by (rank, section)."""
    db.expire_all()
    ranks = {item.id: item.rank for item in issue.items}
    clicks = [item.clicks for item in sorted(issue.items, key=lambda i: i.rank)]
    rows = db.execute(
        select(SectionClicks.item_id, SectionClicks.section, SectionClicks.clicks).where(
            SectionClicks.item_id.in_(list(ranks))
        )
    )
    return clicks, {(ranks[item_id], section): n for item_id, section, n in rows}


def test_a_token_without_segment_keeps_working_and_counts_for_everyone(app, client, db, sent):
    answer = _follow(app, client, _token(app, sent.items[0]))
    assert answer.status_code == 302
    assert answer.headers["location"] == sent.items[0].post.url
    assert _counts(db, sent) == ([1, 0, 0], {(1, ""): 1})


def test_a_segment_click_counts_for_the_chosen_sections_the_item_is_in(app, client, db, sent):
    # Segment 1 chose wind and grid; item 1 is in wind and solar: only wind counts.
    assert _follow(app, client, _token(app, sent.items[0], segment=1)).status_code == 302
    # Item 2 is in grid; item 3 in no section: the item counts, no section does.
    assert _follow(app, client, _token(app, sent.items[1], segment=1)).status_code == 302
    assert _follow(app, client, _token(app, sent.items[2], segment=1)).status_code == 302
    assert _counts(db, sent) == ([1, 1, 1], {(1, "wind"): 1, (2, "grid"): 1})


def test_the_everything_segment_counts_under_the_empty_section(app, client, db, sent):
    _follow(app, client, _token(app, sent.items[1], segment=0))
    assert _counts(db, sent) == ([0, 1, 0], {(2, ""): 1})


def test_counts_add_up_across_clients_and_segments(app, client, db, sent):
    item = sent.items[0]
    _follow(app, client, _token(app, item, segment=1), BROWSER)
    _follow(app, client, _token(app, item, segment=1), OTHER_BROWSER)
    third = BROWSER.replace("131.0", "132.0")
    _follow(app, client, _token(app, item, segment=2), third)
    _follow(app, client, _token(app, item, segment=2), third)  # same client, same day: once
    _follow(app, client, _token(app, item, segment=2), BROWSER)  # counted for it already
    assert _counts(db, sent) == ([3, 0, 0], {(1, "wind"): 2, (1, "solar"): 1})


def test_prefetchers_count_in_no_section(app, client, db, sent):
    answer = _follow(app, client, _token(app, sent.items[0], segment=1), "facebookexternalhit/1.1")
    assert answer.status_code == 302
    assert _counts(db, sent) == ([0, 0, 0], {})


def test_a_drafts_test_copy_counts_nothing(app, client, db):
    draft = make_issue(db, week="2026-W49")
    draft.items[0].sections = "wind"
    _segment(db, draft, 1, "wind", [draft.items[0].id])
    db.commit()
    assert _follow(app, client, _token(app, draft.items[0], segment=1)).status_code == 302
    assert _counts(db, draft) == ([0, 0, 0], {})


def test_a_monthly_copy_may_link_an_earlier_issues_item_its_segment_lists(app, client, db, sent):
    later = make_issue(db, week="2026-W49")
    later.status, later.sent_at = "sent", T0
    earlier_item = sent.items[0]
    _segment(db, later, 3, "wind", [later.items[0].id, earlier_item.id])
    db.commit()
    signer = app.state.digest.signer
    token = click_token(signer, issue_id=later.id, item_id=earlier_item.id, segment=3)
    assert _follow(app, client, token).status_code == 302
    assert _counts(db, sent) == ([1, 0, 0], {(1, "wind"): 1})
    # Without the segment, the later issue's token cannot reach the earlier item.
    bare = click_token(signer, issue_id=later.id, item_id=earlier_item.id)
    assert _follow(app, client, bare, OTHER_BROWSER).status_code == 404


def _bad_tokens(app, sent, other) -> dict[str, str]:
    signer = app.state.digest.signer
    item = sent.items[0]
    good = _token(app, item, segment=1)
    return {
        "unknown segment": _token(app, item, segment=9),
        "another issue's segment": click_token(
            signer, issue_id=other.id, item_id=item.id, segment=1
        ),
        "another issue's item": click_token(signer, issue_id=sent.id, item_id=other.items[0].id),
        "tampered signature": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        # Segment 2's payload under segment 1's signature.
        "tampered segment": _token(app, item, segment=2).split(".")[0] + good[good.index(".") :],
        "segment as text": signer.dumps(CLICK, {"i": sent.id, "p": item.id, "s": "1"}),
        "segment as bool": signer.dumps(CLICK, {"i": sent.id, "p": item.id, "s": True}),
        "negative segment": signer.dumps(CLICK, {"i": sent.id, "p": item.id, "s": -1}),
        "segment as list": signer.dumps(CLICK, {"i": sent.id, "p": item.id, "s": [1]}),
        "not an object": signer.dumps(CLICK, [sent.id, item.id, 1]),
        "other purpose": signer.dumps("confirm", {"i": sent.id, "p": item.id, "s": 1}),
    }


def test_bad_tokens_are_404_and_count_nothing(app, client, db, sent):
    other = make_issue(db, week="2026-W47")
    other.status, other.sent_at = "sent", T0
    _segment(db, other, 1, "wind", [other.items[0].id])
    db.commit()
    for name, token in _bad_tokens(app, sent, other).items():
        answer = _follow(app, client, token)
        assert answer.status_code == 404, name
        assert "location" not in answer.headers, name
    assert _counts(db, sent) == ([0, 0, 0], {})
    assert _counts(db, other) == ([0, 0, 0], {})


def test_click_url_names_the_segment_and_stays_compatible(app, sent):
    signer = app.state.digest.signer
    item = sent.items[0]
    plain = click_url(signer, "https://x.example/", issue_id=sent.id, item_id=item.id)
    assert plain == f"https://x.example/r/{_token(app, item)}"
    assert signer.loads(CLICK, plain.rsplit("/", 1)[1]) == {"i": sent.id, "p": item.id}
    with_segment = click_url(
        signer, "https://x.example", issue_id=sent.id, item_id=item.id, segment=0
    )
    assert signer.loads(CLICK, with_segment.rsplit("/", 1)[1]) == {
        "i": sent.id,
        "p": item.id,
        "s": 0,
    }


def test_follow_click_counts_through_the_function_too(app, db, sent):
    signer = app.state.digest.signer
    url = follow_click(db, signer=signer, token=_token(app, sent.items[1], segment=1))
    assert url == sent.items[1].post.url
    url = follow_click(
        db, signer=signer, token=_token(app, sent.items[1], segment=1), counts=lambda _: False
    )
    assert url == sent.items[1].post.url
    assert _counts(db, sent) == ([0, 1, 0], {(2, "grid"): 1})


def test_the_upsert_increments_an_existing_row(db, sent):
    item = sent.items[0]
    count_section_clicks(db, item_id=item.id, sections=["wind", "solar"])
    count_section_clicks(db, item_id=item.id, sections=["wind", "wind"])  # once per section
    count_section_clicks(db, item_id=item.id, sections=[])
    db.flush()
    assert _counts(db, sent)[1] == {(1, "wind"): 2, (1, "solar"): 1}


@pytest.mark.parametrize(
    ("selection", "item_sections", "expected"),
    [
        (None, "wind", [""]),
        ("", "wind,grid", [""]),
        ("wind,grid", "grid,wind,solar", ["wind", "grid"]),
        ("solar", "wind", []),
        ("wind", "", []),
    ],
)
def test_clicked_sections(selection, item_sections, expected):
    assert clicked_sections(selection, item_sections) == expected


# --- per-section source factors ------------------------------------------------------------


def _week_of_clicks(db, week: str, rows, *, status: str = "sent"):
    """An issue of `week` whose items are (source, sections, clicks, {section: clicks})."""
    issue = make_issue(db, [{"source": source} for source, *_ in rows], week=week)
    issue.status = status
    for item, (_, sections, clicks, by_section) in zip(issue.items, rows, strict=True):
        item.sections, item.clicks = sections, clicks
        for section, n in by_section.items():
            db.add(SectionClicks(item_id=item.id, section=section, clicks=n))
    db.flush()
    return issue


def test_no_clicks_no_factors(db):
    assert section_source_factors(db, before_week="2026-W49") == {}
    _week_of_clicks(db, "2026-W48", [("Alpha", "wind", 0, {}), ("Beta", "wind", 0, {})])
    assert section_source_factors(db, before_week="2026-W49") == {}


def test_thin_evidence_stays_near_one(db):
    # Wind readers clicked Alpha 3 of 3 times, everyone split 3:3: a hint, not proof.
    _week_of_clicks(
        db, "2026-W48", [("Alpha", "wind", 3, {"wind": 3}), ("Beta", "wind", 3, {"": 3})]
    )
    factors = section_source_factors(db, before_week="2026-W49")
    assert set(factors) == {"wind"}
    assert 1.0 < factors["wind"]["alpha"] < 1.1
    assert 0.9 < factors["wind"]["beta"] < 1.0


def test_a_sections_readers_clicking_a_source_far_more_lift_it_there(db):
    # Everyone clicks Alpha and Beta on wind stories alike (100 each); wind readers chose Alpha
    # 80 times and Beta 10 times.
    _week_of_clicks(
        db,
        "2026-W48",
        [
            ("Alpha", "wind", 100, {"wind": 80, "": 20}),
            ("Beta", "wind", 100, {"wind": 10, "": 90}),
            ("Gamma", "grid", 50, {"grid": 25, "": 25}),
        ],
    )
    factors = section_source_factors(db, before_week="2026-W49")
    assert factors["wind"]["alpha"] > 1.4
    assert factors["wind"]["beta"] < 0.6
    assert factors["grid"] == {"gamma": pytest.approx(1.0)}  # all of grid's clicks: its share
    assert "" not in factors  # readers of everything are the baseline, not a section


def test_factors_stay_in_range_and_use_source_keys(db):
    _week_of_clicks(
        db,
        "2026-W48",
        [(" ALPHA ", "wind", 2000, {"wind": 2000}), ("Beta", "wind", 6000, {"": 6000})],
    )
    factors = section_source_factors(db, before_week="2026-W49")
    assert factors["wind"] == {"alpha": FACTOR_RANGE[1], "beta": FACTOR_RANGE[0]}


def test_only_mailed_issues_in_the_window_count(db):
    strong = [("Alpha", "wind", 100, {"wind": 100}), ("Beta", "wind", 100, {})]
    _week_of_clicks(db, "2026-W47", strong, status="draft")
    _week_of_clicks(db, "2026-W46", strong, status="cancelled")
    _week_of_clicks(db, "2026-W49", strong)  # the week being ranked and later: not evidence
    _week_of_clicks(db, "2026-W20", strong)  # long ago
    assert section_source_factors(db, before_week="2026-W49") == {}
    _week_of_clicks(db, "2026-W45", strong, status="paused")  # mail went out
    assert section_source_factors(db, before_week="2026-W49")["wind"]["alpha"] > 1.5


def test_the_pure_part_ignores_clicks_on_items_it_does_not_know():
    factors = section_factors_from(
        [(1, "wind", "Alpha", 40), (2, "wind", "Beta", 40)],
        [(1, "wind", 30), (99, "wind", 500), (2, "", 40)],
    )
    assert factors["wind"]["alpha"] == pytest.approx((30 + 20) / (15 + 20))
    assert factors["wind"]["beta"] == pytest.approx((0 + 20) / (15 + 20))


def test_links_in_a_started_sends_segment_copies_count_per_section(app, client, db, settings):
    """The whole path: a send stores its segments; a Wind reader's copy links count for Wind."""
    settings.sections = Sections(parse_sections("Solar: solar, battery | Wind: wind"))
    add_week(db, {"solar": 12, "wind": 12})
    issue = draft_issue(db, week=SEGMENT_WEEK, now=SEGMENT_NOW, settings=settings)
    add_reader(db, "all")
    add_reader(db, "wind", sections="wind")
    assert start_send(db, issue_id=issue.id, now=SEGMENT_NOW, settings=settings)
    db.commit()
    wind = db.scalar(select(IssueSegment).where(IssueSegment.sections == "wind"))
    variant = IssueVariants(db, issue, settings=settings).variant(["wind"])
    content = digest_content(
        db,
        issue,
        settings=settings,
        signer=app.state.digest.signer,
        variant=variant,
        segment=wind.number,
    )
    card = content.cards[0]
    first = variant.items[0]
    assert "wind" in first.sections.split(",")
    answer = client.get(
        card.url.removeprefix(settings.public_base_url),
        headers={"User-Agent": BROWSER},
        follow_redirects=False,
    )
    assert answer.status_code == 302 and answer.headers["location"] == first.post.url
    db.expire_all()
    rows = db.execute(select(SectionClicks.item_id, SectionClicks.section, SectionClicks.clicks))
    assert rows.all() == [(first.id, "wind", 1)]
