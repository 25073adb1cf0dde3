"""Each reader's own top 10 (issue 13): one ranking, section extras, variants, segments, sends."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.delivery.engine import send_batch, start_send
from app.delivery.plan import plan_send
from app.delivery.smtp import SMTPTransport
from app.issues.drafts import draft_issue, update_issue
from app.issues.segments import (
    IssueVariants,
    is_month_end,
    plan_segments,
    weeks_of_month,
)
from app.models import Delivery, Issue, IssueItem, IssueSegment, Post, Subscriber
from app.sections import Sections, parse_sections

WEEK = "2026-W47"  # Monday 2026-11-16 .. Monday 2026-11-23; not the month's last week
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

# Distinct words, so no two headlines tell "the same story" to the story clustering.
PLACES = [
    "Portugal", "Chile", "Kenya", "Vietnam", "Norway", "Texas", "Morocco", "Bavaria",
    "Ontario", "Gujarat", "Queensland", "Scotland", "Jutland", "Sicily", "Patagonia",
    "Alberta", "Java", "Luzon", "Crete", "Sardinia", "Tasmania", "Yukon", "Sahara",
    "Anatolia", "Bohemia", "Catalonia", "Flanders", "Galicia", "Hokkaido", "Iceland",
    "Kerala", "Lapland", "Manitoba", "Nevada", "Oaxaca", "Punjab", "Quebec", "Rioja",
    "Saxony", "Tyrol", "Umbria", "Valais", "Wales", "Yucatan", "Zeeland", "Algarve",
]  # fmt: skip
NOUNS = {
    "solar": ["rooftop solar", "solar farm", "battery storage", "photovoltaic plant"],
    "wind": ["offshore wind", "wind turbine", "onshore wind", "wind auction"],
    "policy": ["carbon price", "climate law", "emissions trading", "carbon tax"],
}
VERBS = [
    "breaks ground", "doubles output", "wins approval", "faces delays", "opens tender",
    "sets record", "draws investors", "cuts costs", "meets target", "passes review",
    "hits milestone", "secures funding", "expands", "stalls",
]  # fmt: skip


def add_week(db: Session, counts: dict[str, int], *, views: int = 1000) -> dict[str, list[Post]]:
    """Posts of WEEK per section, each a story of its own, with counters that rank them."""
    made: dict[str, list[Post]] = {}
    for offset, (section, count) in enumerate(counts.items()):
        for n in range(count):
            noun = NOUNS[section][n % len(NOUNS[section])]
            place = PLACES[n + 15 * offset]
            verb = VERBS[(n * 3 + offset) % len(VERBS)]
            post = Post(
                url=f"https://news.example.com/{section}/{n}",
                title=f"{place} {noun} {verb}",
                summary=f"A {noun} story from {place}.",
                source=f"{section.title()} Outlet {n % 4}",
                topics=["energy"],
                published_at=MONDAY + timedelta(hours=6 + 5 * n + offset),
                views=views,
                likes=100 - n - 30 * offset,
                shares=10,
                comments=2,
                created_at=NOW,
                updated_at=NOW,
            )
            db.add(post)
            made.setdefault(section, []).append(post)
    db.flush()
    return made


def add_late_posts(db: Session, count: int) -> None:
    """Weak solar posts in 2026-W48, the week after WEEK and November's last."""
    for n in range(count):
        db.add(
            Post(
                url=f"https://late.example.com/{n}",
                title=f"{PLACES[n]} solar late story {VERBS[n]}",
                summary="Solar.",
                source="Late Outlet",
                topics=["energy"],
                published_at=MONDAY + timedelta(days=7, hours=10 + n),
                views=1000,
                likes=5,
                shares=0,
                comments=0,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    db.flush()


def run_batches(sessions, db: Session, issue_id: int, settings, *, at: datetime) -> None:
    """Every batch of the send once, in order, as workers would, over the test SMTP server."""
    for batch in sorted(
        set(db.scalars(select(Delivery.batch).where(Delivery.issue_id == issue_id)))
    ):
        send_batch(
            sessions,
            issue_id=issue_id,
            batch=batch,
            settings=settings,
            transport=SMTPTransport(settings.smtp_url),
            clock=lambda: at,
        )


def add_reader(
    db: Session,
    name: str,
    *,
    sections: str = "",
    cadence: str = "weekly",
    paused_until: datetime | None = None,
    status: str = "confirmed",
) -> Subscriber:
    reader = Subscriber(
        email=f"{name}@example.org",
        status=status,
        source="test",
        created_at=NOW,
        updated_at=NOW,
        confirm_nonce=0,
        sections=sections,
        cadence=cadence,
        paused_until=paused_until,
    )
    db.add(reader)
    db.flush()
    return reader


@pytest.fixture
def week_settings(settings):
    settings.sections = Sections(
        parse_sections(
            "Solar: solar, battery, photovoltaic | Wind: wind | Policy: carbon price,"
            " climate law, emissions trading, carbon tax | Nuclear: nuclear, reactor"
        )
    )
    return settings


def test_one_ranking_keeps_each_sections_best_beyond_the_top_10(db, week_settings):
    add_week(db, {"solar": 14, "wind": 14, "policy": 14})
    issue = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)

    overall = [item for item in issue.items]
    assert len(overall) == 10 and all(item.overall for item in overall)
    extras = db.scalars(
        select(IssueItem).where(IssueItem.issue_id == issue.id, IssueItem.overall.is_(False))
    ).all()
    assert extras, "sections beyond the top 10 keep their best stories"
    ranks = sorted(item.rank for item in [*overall, *extras])
    assert ranks == list(range(1, len(ranks) + 1))  # extras rank on after the overall list
    # Every item carries its sections; the section words in the titles decide them.
    by_post = {item.post_id: item.sections for item in [*overall, *extras]}
    titles = dict(db.execute(select(Post.id, Post.title)).tuples().all())
    for post_id, sections in by_post.items():
        title = titles[post_id].lower()
        expected = "wind" if "wind" in title else "policy" if "carbon" in title else None
        if expected:
            assert expected in sections.split(","), (title, sections)
    # At most size extras per section.
    for key in ("solar", "wind", "policy"):
        assert sum(key in item.sections.split(",") for item in extras) <= 10


def test_a_readers_list_is_their_sections_best_with_pins_and_no_story_twice(db, week_settings):
    posts = add_week(db, {"solar": 14, "wind": 14, "policy": 14})
    issue = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    pinned = posts["solar"][13]  # the weakest solar post
    update_issue(db, issue_id=issue.id, pin=[pinned.id], now=NOW, settings=week_settings)
    variants = IssueVariants(db, issue, settings=week_settings)

    wind = variants.variant(["wind"])
    assert len(wind.items) == 10
    assert wind.items[0].post_id == pinned.id  # editors' pins go to everyone, first
    assert all("wind" in item.sections.split(",") for item in wind.items[1:])
    assert wind.from_sections == 10
    assert len({item.post_id for item in wind.items}) == 10

    both = variants.variant(["wind", "policy"])
    keys = [set(item.sections.split(",")) for item in both.items[1:]]
    assert all(k & {"wind", "policy"} for k in keys) and len(both.items) == 10
    scores = [item.score for item in both.items[1:]]
    assert scores == sorted(scores, reverse=True)  # across their sections, best first

    everything = variants.variant([])
    assert [i.id for i in everything.items] == [i.id for i in variants.overall]
    # A reader of every section gets the overall list, as one who chose nothing.
    every_key = [s.key for s in week_settings.sections.all]
    assert [i.id for i in variants.variant(every_key).items] == [i.id for i in variants.overall]


def test_a_short_section_is_filled_from_the_overall_top(db, week_settings):
    add_week(db, {"solar": 12, "wind": 12, "policy": 3})
    issue = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    variants = IssueVariants(db, issue, settings=week_settings)

    policy = variants.variant(["policy"])
    assert len(policy.items) == 10  # nobody gets a short mail
    assert policy.from_sections == 3
    assert all("policy" in i.sections.split(",") for i in policy.items[:3])
    overall_ids = [i.id for i in variants.overall]
    fill = [i.id for i in policy.items[3:]]
    assert fill == [i for i in overall_ids if i in set(fill)]  # in the overall order
    # A section with no posts at all (Nuclear) gets the overall top.
    nuclear = variants.variant(["nuclear"])
    assert nuclear.from_sections == 0 and len(nuclear.items) == 10


def test_segments_group_readers_by_selection_and_skip_paused_and_monthly(db, week_settings):
    add_week(db, {"solar": 12, "wind": 12, "policy": 12})
    issue = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    add_reader(db, "all1")
    add_reader(db, "all2", sections="solar,wind,policy,nuclear")  # every section = everything
    add_reader(db, "old", sections="tidal")  # a section the configuration dropped
    add_reader(db, "wind1", sections="wind")
    add_reader(db, "wind2", sections="wind")
    add_reader(db, "wp", sections="wind,policy")
    add_reader(db, "paused", sections="wind", paused_until=NOW + timedelta(days=14))
    add_reader(db, "back", sections="policy", paused_until=NOW - timedelta(days=1))
    add_reader(db, "monthly", cadence="monthly")
    add_reader(db, "pending", status="pending")

    segments = plan_segments(db, issue, settings=week_settings, now=NOW)
    table = {(s.variant.key, s.variant.cadence): s.readers for s in segments}
    assert table == {
        ("", "weekly"): 3,
        ("wind", "weekly"): 2,
        ("wind,policy", "weekly"): 1,
        ("policy", "weekly"): 1,
    }
    assert segments[0].variant.key == "" and segments[0].number == 0
    assert plan_send(db, issue_id=issue.id, settings=week_settings, now=NOW).readers == 7


def test_monthly_readers_get_the_best_of_the_month_in_its_last_week(db, week_settings):
    assert weeks_of_month("2026-W48") == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert is_month_end("2026-W48") and not is_month_end(WEEK)
    add_week(db, {"solar": 12, "wind": 12})
    november = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    november.status = "sent"
    add_late_posts(db, 4)  # the month's last week: four weaker posts
    last = draft_issue(db, week="2026-W48", now=NOW + timedelta(days=7), settings=week_settings)
    add_reader(db, "weekly")
    add_reader(db, "monthly", cadence="monthly")
    add_reader(db, "monthly-wind", sections="wind", cadence="monthly")

    segments = plan_segments(db, last, settings=week_settings, now=NOW + timedelta(days=7))
    by_key = {(s.variant.key, s.variant.cadence): s for s in segments}
    assert set(by_key) == {("", "weekly"), ("", "monthly"), ("wind", "monthly")}
    monthly = by_key[("", "monthly")].variant
    assert len(monthly.items) == 10
    # The best of the month: the strong W47 stories beat the weak last-week ones.
    assert {item.issue_id for item in monthly.items} == {november.id}
    wind = by_key[("wind", "monthly")].variant
    assert all("wind" in item.sections.split(",") for item in wind.items)


def _bodies(received) -> dict[str, str]:
    """Each recipient's decoded HTML part."""
    found = {}
    for message in received:
        parsed = email.message_from_bytes(message.data, policy=policy.default)
        html = parsed.get_body(("html",)).get_content()
        found[message.rcpt_tos[0]] = (parsed, html)
    return found


def test_a_send_renders_once_per_segment_and_each_reader_gets_their_own_ten(
    db, sessions, settings, smtp_server, week_settings, published
):
    add_week(db, {"solar": 12, "wind": 12, "policy": 12})
    issue = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    for name, key in [("a", ""), ("b", ""), ("w", "wind"), ("p", "policy"), ("wp", "wind,policy")]:
        add_reader(db, name, sections=key)
    week_settings.smtp_url = smtp_server.url()
    week_settings.batch_size = 2
    assert start_send(db, issue_id=issue.id, now=NOW, settings=week_settings)
    db.commit()

    stored = db.scalars(select(IssueSegment).order_by(IssueSegment.number)).all()
    assert [(s.sections, s.readers) for s in stored] == [
        ("", 2),
        ("policy", 1),
        ("wind", 1),
        ("wind,policy", 1),
    ]
    assert all(s.message_template for s in stored)
    rows = db.execute(
        select(Subscriber.email, Delivery.segment, Delivery.batch).join(
            Delivery, Delivery.subscriber_id == Subscriber.id
        )
    ).all()
    segment_of = {email_: segment for email_, segment, _ in rows}
    assert segment_of == {
        "a@example.org": 0,
        "b@example.org": 0,
        "p@example.org": 1,
        "w@example.org": 2,
        "wp@example.org": 3,
    }
    run_batches(sessions, db, issue.id, week_settings, at=NOW)
    mails = _bodies(smtp_server.wait_for(5))
    assert len(mails) == 5
    items = {item.id: item for item in db.scalars(select(IssueItem))}
    segment_items = {s.number: [items[i] for i in s.item_ids] for s in stored}

    def listed(html: str, number: int) -> list[bool]:
        return [item.post.title in html for item in segment_items[number]]

    wind_parsed, wind_html = mails["w@example.org"]
    _, policy_html = mails["p@example.org"]
    _, all_html = mails["a@example.org"]
    # Each reader's copy lists their segment's ten: the list the variant of their sections
    # makes, their sections' stories first.
    variants = IssueVariants(db, issue, settings=week_settings)
    for reader, number, keys in [
        ("w", 2, ["wind"]),
        ("p", 1, ["policy"]),
        ("wp", 3, ["wind", "policy"]),
    ]:
        html = mails[f"{reader}@example.org"][1]
        assert listed(html, number) == [True] * 10
        variant = variants.variant(keys)
        assert [i.id for i in variant.items] == [i.id for i in segment_items[number]]
        assert variant.from_sections >= 6, (reader, variant.from_sections)
        mine = segment_items[number][: variant.from_sections]
        assert all(set(i.sections.split(",")) & set(keys) for i in mine)
    assert listed(all_html, 0) == [True] * 10
    assert [i.id for i in segment_items[0]] == [i.id for i in issue.items]
    # Different selections, different lists.
    assert {i.id for i in segment_items[1]} != {i.id for i in segment_items[2]}
    assert not any(i.post.title in wind_html for i in segment_items[1] if "wind" not in i.sections)
    assert "Picked for your sections: Wind." in wind_html
    assert "Picked for your sections" not in all_html
    # Each copy still carries the reader's own links, filled into the segment's bytes.
    assert "/manage/" in wind_html and "/unsubscribe/" in wind_parsed["List-Unsubscribe"]
    assert (
        db.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "sent")) == 5
    )
    db.expire_all()
    assert db.get(Issue, issue.id).status == "sent"


def test_an_editor_previews_the_mail_a_reader_of_some_sections_gets(
    db, week_settings, client, admin_headers
):
    add_week(db, {"solar": 12, "wind": 12, "policy": 3})
    issue = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    db.commit()
    url = f"/api/issues/{issue.id}/preview"
    wind = client.get(url, params={"format": "text", "sections": "Wind"}, headers=admin_headers)
    assert wind.status_code == 200
    assert "Picked for your sections: Wind." in wind.text
    variant = IssueVariants(db, issue, settings=week_settings).variant(["wind"])
    listed = re.findall(r"^\d+\. (.+)$", wind.text, re.M)
    assert len(listed) == 10 and listed[0] == variant.items[0].post.title[: len(listed[0])]
    policy = client.get(url, params={"format": "text", "sections": "policy"}, headers=admin_headers)
    short = IssueVariants(db, issue, settings=week_settings).variant(["policy"]).from_sections
    assert 0 < short < 10
    said = f"Your sections had {short} stories this week; the other {10 - short} are the week's"
    assert said in " ".join(policy.text.split())
    overall = client.get(url, params={"format": "text"}, headers=admin_headers)
    assert "Picked for your sections" not in overall.text
    monthly = client.get(
        url, params={"format": "text", "cadence": "monthly"}, headers=admin_headers
    )
    assert "Your monthly digest: the best of November 2026." in monthly.text

    for params, reason in [
        ({"sections": "astrology"}, "choose from solar (Solar), wind (Wind)"),
        ({"sections": "wind,nuclear-fusion"}, "unknown section: nuclear-fusion"),
        ({"cadence": "yearly"}, "cadence"),
        ({"sections": "x" * 700}, "sections"),
    ]:
        refused = client.get(url, params=params, headers=admin_headers)
        assert refused.status_code == 422, params
        assert reason in refused.text, (params, refused.text)


def test_a_month_end_send_mails_monthly_readers_the_best_of_the_month_and_skips_paused(
    db, sessions, smtp_server, week_settings, published
):
    add_week(db, {"solar": 12, "wind": 12})
    november = draft_issue(db, week=WEEK, now=NOW, settings=week_settings)
    november.status = "sent"
    add_late_posts(db, 1)
    now = NOW + timedelta(days=7)  # Monday after 2026-W48, November's last week
    last = draft_issue(db, week="2026-W48", now=now, settings=week_settings)
    add_reader(db, "weekly")
    add_reader(db, "monthly", cadence="monthly")
    add_reader(db, "paused", paused_until=now + timedelta(weeks=1))
    week_settings.smtp_url = smtp_server.url()
    assert start_send(db, issue_id=last.id, now=now, settings=week_settings)
    db.commit()
    run_batches(sessions, db, last.id, week_settings, at=now)
    mails = {m.rcpt_tos[0]: m.message for m in smtp_server.wait_for(2)}
    assert set(mails) == {"weekly@example.org", "monthly@example.org"}  # the paused one waits
    monthly, weekly = mails["monthly@example.org"], mails["weekly@example.org"]
    assert monthly["Subject"].startswith("The best of November 2026")
    assert weekly["Subject"] == last.subject
    text = monthly.get_body(("plain",)).get_content()
    assert "Your monthly digest: the best of November 2026." in " ".join(text.split())
    assert len(re.findall(r"^\d+\. ", text, re.M)) == 10  # the month's best, not one weak week
    weekly_text = weekly.get_body(("plain",)).get_content()
    assert len(re.findall(r"^\d+\. ", weekly_text, re.M)) == 1  # the last week had one post
