"""Checks that the demo data in app/demo/ has the SPEC §7 shape and the traps it must hold."""

from __future__ import annotations

import csv
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import fuzz, utils

from app.config import Settings

DEMO_DIR = Path(__file__).resolve().parent.parent / "app" / "demo"
WEEKS = ("2026-W45", "2026-W46", "2026-W47", "2026-W48")
POST_KEYS = {
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
}
METRIC_KEYS = {"views", "likes", "shares", "comments"}
# The default DIGEST_TOPICS, copied so this test does not depend on the app being importable.
ON_TOPIC = frozenset(
    {
        "sustainability",
        "energy",
        "climate",
        "renewables",
        "solar",
        "wind",
        "hydrogen",
        "batteries",
        "grid",
        "electric vehicles",
        "decarbonisation",
        "carbon",
        "nuclear",
        "efficiency",
        "circular economy",
        "biodiversity",
    }
)
RESERVED_MAIL_DOMAINS = {"example.com", "example.org", "example.net"}
NEAR_DUPLICATE_RATIO = 85
SPEC_EXAMPLE_TITLE = "Trump-Putin meeting in Alaska: How is China viewing it?"


@pytest.fixture(scope="module")
def posts() -> list[dict]:
    """The demo posts as shipped."""
    return json.loads((DEMO_DIR / "posts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def posts_by_week(posts: list[dict]) -> dict[str, list[dict]]:
    """Demo posts grouped by the ISO week of their UTC publication time (the issue window)."""
    weeks: dict[str, list[dict]] = defaultdict(list)
    for post in posts:
        weeks[_iso_week(post)].append(post)
    return weeks


@pytest.fixture(scope="module")
def subscribers() -> list[dict[str, str]]:
    """The demo subscriber rows as shipped."""
    with (DEMO_DIR / "subscribers.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _utc(post: dict) -> datetime:
    return datetime.fromisoformat(post["published_at"]).astimezone(UTC)


def _iso_week(post: dict) -> str:
    year, week, _ = _utc(post).isocalendar()
    return f"{year}-W{week:02d}"


def _text(post: dict) -> str:
    return f"{post['title']} {post['summary']}".lower()


def _clearly_off_topic(post: dict) -> bool:
    # Off-topic under any reading of the rule: no on-topic topic and no on-topic word anywhere.
    return not set(post["topics"]) & ON_TOPIC and not any(k in _text(post) for k in ON_TOPIC)


def _on_topic(post: dict) -> bool:
    if post["topics"]:
        return bool(set(post["topics"]) & ON_TOPIC)
    return any(re.search(rf"\b{re.escape(k)}", _text(post)) for k in ON_TOPIC)


def _like_rate(post: dict) -> float:
    return post["metrics"]["likes"] / post["metrics"]["views"]


def _near_duplicate_groups(week_posts: list[dict]) -> list[set[str]]:
    """Groups of titles linked by cross-source pairs at or above the near-duplicate ratio."""
    groups: list[set[str]] = []
    for a, b in itertools.combinations(week_posts, 2):
        if a["source"] == b["source"]:
            continue
        ratio = fuzz.token_sort_ratio(a["title"], b["title"], processor=utils.default_process)
        if ratio < NEAR_DUPLICATE_RATIO:
            continue
        linked = [g for g in groups if a["title"] in g or b["title"] in g]
        merged = {a["title"], b["title"]}.union(*linked)
        groups = [g for g in groups if g not in linked] + [merged]
    return groups


def test_posts_have_exactly_the_spec_fields(posts: list[dict]) -> None:
    assert isinstance(posts, list) and len(posts) >= 90
    for post in posts:
        assert set(post) == POST_KEYS, post.get("url")
        assert isinstance(post["read_minutes"], int) and 1 <= post["read_minutes"] <= 30
        for field in ("title", "summary", "author", "source"):
            assert isinstance(post[field], str) and post[field].strip(), (field, post["url"])


def test_urls_are_unique_https_and_under_invented_domains(posts: list[dict]) -> None:
    urls = [post["url"] for post in posts]
    assert len(set(urls)) == len(urls)
    for post in posts:
        parts = urlsplit(post["url"])
        # .test is reserved (RFC 2606): no real site is ever linked from the demo.
        assert parts.scheme == "https" and parts.hostname.endswith(".test"), post["url"]
        assert len(parts.path) > 5, post["url"]
        if post["image_url"] is not None:
            image = urlsplit(post["image_url"])
            assert image.scheme == "https" and image.hostname == parts.hostname, post["url"]
    assert any(post["image_url"] is None for post in posts)


def test_published_at_always_carries_an_offset(posts: list[dict]) -> None:
    offsets = set()
    for post in posts:
        published = datetime.fromisoformat(post["published_at"])
        assert published.utcoffset() is not None, post["published_at"]
        offsets.add(published.utcoffset())
    assert len(offsets) >= 3


def test_posts_cover_exactly_the_four_demo_weeks(posts_by_week: dict[str, list[dict]]) -> None:
    assert sorted(posts_by_week) == list(WEEKS)


@pytest.mark.parametrize("week", WEEKS)
def test_each_week_has_posts_on_every_day(posts_by_week: dict[str, list[dict]], week: str) -> None:
    week_posts = posts_by_week[week]
    assert len(week_posts) >= 20
    assert {_utc(post).weekday() for post in week_posts} == set(range(7))


def test_metrics_are_plausible_non_negative_counters(posts: list[dict]) -> None:
    for post in posts:
        metrics = post["metrics"]
        assert set(metrics) == METRIC_KEYS, post["url"]
        for value in metrics.values():
            assert type(value) is int and value >= 0, post["url"]
        assert 30 <= metrics["views"] <= 60_000, post["url"]
        assert metrics["likes"] <= metrics["views"], post["url"]
        assert metrics["shares"] <= metrics["likes"], post["url"]
        assert metrics["comments"] <= metrics["likes"], post["url"]
    assert len({post["metrics"]["views"] for post in posts}) > len(posts) * 0.9


def test_texts_read_like_written_news(posts: list[dict]) -> None:
    titles = [post["title"] for post in posts]
    assert len(set(titles)) == len(titles)
    for post in posts:
        sentences = re.findall(r"[.!?](?=\s|$)", post["summary"])
        assert 1 <= len(sentences) <= 3, post["summary"]
        assert not re.search(r"lorem|ipsum|\bpost \d+\b", _text(post)), post["title"]


def test_topics_are_lower_case_and_some_posts_need_the_keyword_rule(posts: list[dict]) -> None:
    for post in posts:
        assert all(isinstance(t, str) and t == t.lower().strip() and t for t in post["topics"])
    keyword_only = [post for post in posts if not post["topics"] and _on_topic(post)]
    assert len(keyword_only) >= 4
    assert len({_iso_week(post) for post in keyword_only}) == len(WEEKS)


def test_there_are_8_to_12_sources(posts: list[dict]) -> None:
    assert 8 <= len({post["source"] for post in posts}) <= 12


@pytest.mark.parametrize("week", WEEKS)
def test_each_week_has_near_duplicate_stories(
    posts_by_week: dict[str, list[dict]], week: str
) -> None:
    groups = _near_duplicate_groups(posts_by_week[week])
    assert len(groups) >= 2, groups
    assert all(len(group) <= 3 for group in groups), groups
    on_topic_titles = {post["title"] for post in posts_by_week[week] if _on_topic(post)}
    assert all(group <= on_topic_titles for group in groups), groups


def test_the_newest_week_has_stories_told_by_several_outlets(
    posts_by_week: dict[str, list[dict]],
) -> None:
    week = posts_by_week[WEEKS[-1]]
    titles = {post["title"]: post for post in week}
    # As real outlets word one event: a wire update, a wire copy on another site, € spelt two ways.
    assert any(t.startswith("UPDATE 1-") for t in titles)
    [copy] = [post for t, post in titles.items() if t.endswith(" - Reuters")]
    [wire] = [p for p in week if p["title"] == copy["title"].removesuffix(" - Reuters")]
    assert copy["source"] != wire["source"] and copy["summary"] == wire["summary"]
    assert any("€5bn" in t for t in titles) and any("EUR 5 billion" in t for t in titles)
    for words in (("sodium-ion",), ("Amazon",), ("German", "hydrogen")):
        story = [p for t, p in titles.items() if all(w.casefold() in t.casefold() for w in words)]
        assert 4 <= len(story) <= 6 and len({p["source"] for p in story}) >= 4, words
    # Two different events whose headlines share most words, published on different days.
    cancel = titles["Germany cancels offshore wind auction after zero bids"]
    approve = titles["Germany approves new offshore wind auction rules"]
    assert _utc(cancel).date() != _utc(approve).date()


@pytest.mark.parametrize("week", WEEKS)
def test_each_week_has_off_topic_posts(posts_by_week: dict[str, list[dict]], week: str) -> None:
    off_topic = [post for post in posts_by_week[week] if _clearly_off_topic(post)]
    assert 3 <= len(off_topic) <= 4, [post["title"] for post in off_topic]


@pytest.mark.parametrize("week", WEEKS)
def test_each_week_has_a_source_over_the_per_source_cap(
    posts_by_week: dict[str, list[dict]], week: str
) -> None:
    per_source = Counter(post["source"] for post in posts_by_week[week] if _on_topic(post))
    assert per_source.most_common(1)[0][1] >= 5, per_source


@pytest.mark.parametrize("week", WEEKS)
def test_each_week_has_the_ranking_traps(posts_by_week: dict[str, list[dict]], week: str) -> None:
    week_posts = [post for post in posts_by_week[week] if _on_topic(post)]
    median_views = statistics.median(post["metrics"]["views"] for post in week_posts)
    thin_but_loved = [p for p in week_posts if p["metrics"]["views"] < 100 and _like_rate(p) >= 0.3]
    wide_but_meh = [
        p for p in week_posts if p["metrics"]["views"] >= 40_000 and _like_rate(p) < 0.01
    ]
    young_sunday_stars = [
        p
        for p in week_posts
        if _utc(p).weekday() == 6 and _like_rate(p) >= 0.06 and p["metrics"]["views"] < median_views
    ]
    assert thin_but_loved and wide_but_meh and young_sunday_stars


def test_titles_need_escaping_and_include_non_ascii(posts: list[dict]) -> None:
    titles = [post["title"] for post in posts]
    assert any("&" in title for title in titles)
    assert any("<" in title for title in titles)
    assert any('"' in title for title in titles)
    assert sum(not title.isascii() for title in titles) >= 3
    assert any(not post["author"].isascii() for post in posts)


def test_spec_example_post_is_present(posts: list[dict]) -> None:
    [example] = [post for post in posts if post["title"] == SPEC_EXAMPLE_TITLE]
    assert example["author"] == "illuminem briefings"
    assert example["source"] == "Deutsche Welle"
    assert example["read_minutes"] == 3
    assert example["topics"] == ["public governance", "energy"]


def test_subscribers_are_valid_unique_demo_addresses(subscribers: list[dict[str, str]]) -> None:
    assert 20 <= len(subscribers) <= 30
    assert set(subscribers[0]) == {"email", "name", "sections"}
    normalized = []
    for row in subscribers:
        try:
            address = validate_email(row["email"], check_deliverability=False)
        except EmailNotValidError as error:
            pytest.fail(f"{row['email']!r}: {error}")
        assert address.domain in RESERVED_MAIL_DOMAINS, row["email"]
        assert row["name"].strip(), row["email"]
        normalized.append(address.normalized.lower())
    assert len(set(normalized)) == len(normalized)
    assert any(not row["name"].isascii() for row in subscribers)


def test_subscribers_header_is_exactly_email_name_sections() -> None:
    first_line = (DEMO_DIR / "subscribers.csv").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "email,name,sections"


def test_demo_readers_choose_known_sections_and_many_choose_none(subscribers) -> None:
    sections = Settings(_env_file=None).sections
    keys = [
        sections.choose(row["sections"].split(",") if row["sections"] else [])
        for row in subscribers
    ]
    assert keys.count("") >= 5  # readers of everything, the default
    assert len(set(keys)) >= 6  # enough different selections to see different lists
