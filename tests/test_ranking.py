"""Tests for the pure weekly ranking (SPEC §7): weeks, eligibility, score, duplicates, pins."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.ranking.engagement import MAX_PSEUDO_VIEWS, MIN_PSEUDO_VIEWS, fit_prior, score
from app.ranking.rules import Rules
from app.ranking.score import Candidate, is_on_topic, rank
from app.ranking.stories import same_story
from app.weeks import format_week, last_complete_week, parse_week, week_of, week_window

WEEK = "2026-W48"
START, END = week_window(WEEK)
NOW = END + timedelta(hours=6)
TOPICS = frozenset({"energy", "solar", "electric vehicles", "climate"})
RULES = Rules(topics=TOPICS)


def distinct_title(post_id: int) -> str:
    """A title that shares no story with any other id's title."""
    digest = hashlib.sha256(str(post_id).encode()).hexdigest()
    return " ".join(
        "".join(chr(97 + int(ch, 16)) for ch in digest[i : i + 6]) for i in range(0, 30, 6)
    )


def post(post_id: int, **fields: object) -> Candidate:
    """An on-topic post published Tuesday noon with modest metrics, overridable per field."""
    values: dict[str, object] = {
        "id": post_id,
        "url": f"https://example.org/{post_id}",
        "title": distinct_title(post_id),
        "summary": "",
        "source": f"Outlet {post_id}",
        "topics": ("energy",),
        "published_at": START + timedelta(days=1, hours=12),
        "views": 1000,
        "likes": 30,
        "shares": 0,
        "comments": 0,
    }
    values.update(fields)
    return Candidate(**values)  # type: ignore[arg-type]


def typical_week(count: int = 60, seed: int = 1, first_id: int = 1000) -> list[Candidate]:
    """Background posts with 500-5,000 views and a 1-5 % like rate, spread over the week."""
    rng = random.Random(seed)
    posts = []
    for offset in range(count):
        views = rng.randint(500, 5000)
        posts.append(
            post(
                first_id + offset,
                views=views,
                likes=int(views * rng.uniform(0.01, 0.05)),
                published_at=START + timedelta(hours=rng.uniform(0, 167)),
            )
        )
    return posts


def ids(ranking) -> list[int]:
    return [item.post_id for item in ranking.items]


def reason_of(ranking, post_id: int) -> str:
    return next(e.reason for e in ranking.excluded if e.post_id == post_id)


# --- weeks -------------------------------------------------------------------------------


def test_parse_and_format_week_round_trip() -> None:
    assert parse_week("2026-W48") == (2026, 48)
    assert parse_week("2026-w05") == (2026, 5)
    assert format_week(2026, 5) == "2026-W05"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-W54", "01..53"),
        ("2025-W53", "01..52"),
        ("2026-W00", "W00"),
        ("banana", "2026-W48"),
        ("2026-48", "2026-W48"),
        ("", "2026-W48"),
    ],
)
def test_parse_week_rejects_bad_forms_readably(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_week(text)


def test_week_53_exists_in_2026_and_spans_the_new_year() -> None:
    start, end = week_window("2026-W53")
    assert start == datetime(2026, 12, 28, tzinfo=UTC)
    assert end == datetime(2027, 1, 4, tzinfo=UTC)
    assert last_complete_week(datetime(2027, 1, 4, 6, tzinfo=UTC)) == "2026-W53"


def test_week_window_is_monday_to_monday_utc() -> None:
    start, end = week_window("2026-W48")
    assert start == datetime(2026, 11, 23, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, tzinfo=UTC)
    assert start.utcoffset() == timedelta(0)


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    tick = timedelta(microseconds=1)
    posts = [
        post(1, published_at=START),
        post(2, published_at=END - tick),
        post(3, published_at=END),
        post(4, published_at=START - tick),
    ]
    ranking = rank(posts, week=WEEK, now=NOW, rules=RULES)
    assert sorted(ids(ranking)) == [1, 2]
    assert reason_of(ranking, 3) == reason_of(ranking, 4) == "outside-week"


def test_week_of_uses_utc_and_boundaries() -> None:
    assert week_of(START) == WEEK
    assert week_of(END - timedelta(microseconds=1)) == WEEK
    assert week_of(END) == "2026-W49"
    # Monday 00:30 in UTC+2 is still Sunday in UTC.
    assert week_of(datetime(2026, 11, 30, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == WEEK


def test_last_complete_week_is_the_week_before_now() -> None:
    assert last_complete_week(NOW) == WEEK
    assert last_complete_week(START) == "2026-W47"
    assert last_complete_week(END - timedelta(seconds=1)) == "2026-W47"


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        post(1, published_at=datetime(2026, 11, 24, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        rank([post(1)], week=WEEK, now=datetime(2026, 12, 1), rules=RULES)
    with pytest.raises(ValueError, match="timezone-aware"):
        week_of(datetime(2026, 11, 24))


def test_negative_metrics_and_repeated_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="views"):
        post(1, views=-1)
    with pytest.raises(ValueError, match="appears twice"):
        rank([post(1), post(1)], week=WEEK, now=NOW, rules=RULES)


# --- rule 1: eligibility -----------------------------------------------------------------


def test_topics_decide_when_present_case_insensitively() -> None:
    assert is_on_topic(post(1, topics=("Public governance", "Energy")), TOPICS)
    assert not is_on_topic(post(2, topics=("sports",), title="Solar football"), TOPICS)


def test_without_topics_title_or_summary_must_name_a_topic_as_whole_words() -> None:
    assert is_on_topic(post(1, topics=(), title="Solar farms double in Spain"), TOPICS)
    assert is_on_topic(post(2, topics=(), summary="Cheaper electric  vehicles arrive"), TOPICS)
    assert not is_on_topic(post(3, topics=(), title="Solaris remake opens"), TOPICS)
    assert not is_on_topic(post(4, topics=(), title="Synergy in football"), TOPICS)
    assert is_on_topic(post(5, topics=(), title="Football"), frozenset())


def test_ineligible_posts_are_excluded_with_their_reason() -> None:
    posts = [post(1), post(2, topics=("sports",)), post(3), post(4)]
    rules = Rules(topics=TOPICS, already_sent=frozenset({3}), drops=frozenset({4}))
    ranking = rank(posts, week=WEEK, now=NOW, rules=rules)
    assert ids(ranking) == [1]
    assert reason_of(ranking, 2) == "off-topic"
    assert reason_of(ranking, 3) == "already-sent"
    assert reason_of(ranking, 4) == "dropped"


# --- rule 2: score -----------------------------------------------------------------------


@pytest.mark.parametrize("background", [0, 60])
@pytest.mark.parametrize("small_published_late", [False, True])
def test_forty_views_twenty_likes_does_not_beat_twenty_thousand_and_three_thousand(
    background: int, small_published_late: bool
) -> None:
    when = END - timedelta(hours=2) if small_published_late else START + timedelta(days=1)
    thin = post(1, views=40, likes=20, published_at=when)
    strong = post(2, views=20_000, likes=3_000)
    everyone = [thin, strong, *typical_week(background)]
    ranking = rank(everyone, week=WEEK, now=NOW, rules=Rules(topics=TOPICS, size=100))
    order = ids(ranking)
    assert order.index(2) < order.index(1)


def test_a_post_shown_far_more_does_not_win_on_raw_counts() -> None:
    valued = post(1, views=1_000, likes=100)
    shown = post(2, views=100_000, likes=300)  # 3x the likes on 100x the views
    ranking = rank([shown, valued, *typical_week()], week=WEEK, now=NOW, rules=RULES)
    assert ids(ranking)[0] == 1


def test_reach_helps_at_the_same_engagement_rate() -> None:
    small = post(1, views=2_000, likes=200)
    large = post(2, views=40_000, likes=4_000)
    assert ids(rank([small, large], week=WEEK, now=NOW, rules=RULES))[:2] == [2, 1]


def test_shares_and_comments_weigh_more_than_likes() -> None:
    posts = [post(1, likes=40), post(2, comments=40, likes=0), post(3, shares=40, likes=0)]
    assert ids(rank(posts, week=WEEK, now=NOW, rules=RULES)) == [3, 2, 1]


def test_sunday_post_is_not_buried_by_one_that_had_all_week() -> None:
    # Same audience per hour live, same engagement rate; the Sunday post had 18 hours.
    monday = post(1, published_at=START, views=17_400, likes=870)
    sunday = post(2, published_at=END - timedelta(hours=12), views=1_800, likes=90)
    weaker_monday = post(3, published_at=START, views=17_400, likes=520)
    everyone = [monday, sunday, weaker_monday, *typical_week()]
    ranking = rank(everyone, week=WEEK, now=NOW, rules=Rules(topics=TOPICS, size=100))
    scores = {item.post_id: item.score for item in ranking.items}
    assert scores[2] >= 0.9 * scores[1]
    assert ids(ranking).index(2) < ids(ranking).index(3)
    sunday_item = next(item for item in ranking.items if item.post_id == 2)
    assert sunday_item.reasons["age_adjustment"] > 5


def test_thin_evidence_is_shrunk_toward_the_typical_rate() -> None:
    week = typical_week()
    prior = fit_prior(week, window_end=END, now=NOW)
    _, reasons = score(post(1, views=5, likes=5), window_end=END, now=NOW, prior=prior)
    assert reasons["engagement_rate"] == 1.0
    assert abs(reasons["shrunk_rate"] - prior.typical_rate) < 0.1
    _, solid = score(post(2, views=50_000, likes=5_000), window_end=END, now=NOW, prior=prior)
    assert abs(solid["shrunk_rate"] - 0.1) < 0.005


def test_a_thin_post_can_claim_a_high_rate_only_in_proportion_to_its_views() -> None:
    prior = fit_prior(typical_week(200), window_end=END, now=NOW)
    solid = [p.likes / p.views for p in typical_week(200)]
    assert 0 < prior.rate_spread < max(solid) - min(solid)
    credited = {}
    for views in (40, 80, 400, 40_000):
        _, reasons = score(
            post(views, views=views, likes=views // 2), window_end=END, now=NOW, prior=prior
        )
        credited[views] = reasons["credited_rate"]
        assert reasons["engagement_rate"] == 0.5
        assert reasons["rate_capped"] is (credited[views] < 0.5)
    assert prior.typical_rate < credited[40] < credited[80] < credited[400] < 0.5
    assert credited[40] == pytest.approx(prior.typical_rate + 1.2 * prior.rate_spread, rel=1e-3)
    assert credited[40_000] == 0.5  # a large audience backs even an exceptional rate


def test_a_week_of_mostly_silent_posts_still_credits_the_engaged_ones() -> None:
    silent = [post(100 + i, views=1_000, likes=0) for i in range(12)]
    liked, thin = post(1, views=1_000, likes=10), post(2, views=50, likes=5)
    ranking = rank([*silent, liked, thin], week=WEEK, now=NOW, rules=Rules(TOPICS, size=100))
    assert ids(ranking)[:2] == [1, 2]
    assert ranking.items[0].score > ranking.items[2].score


def test_a_capped_post_says_so_in_its_summary() -> None:
    thin = post(1, views=40, likes=20)
    ranking = rank([thin, *typical_week()], week=WEEK, now=NOW, rules=Rules(TOPICS, size=100))
    item = next(i for i in ranking.items if i.post_id == 1)
    assert item.reasons["rate_capped"] is True
    assert "too few views to back its high rate" in item.reasons["summary"]
    assert item.rank > 3


def test_prior_is_fitted_from_the_week() -> None:
    week = typical_week(200)
    prior = fit_prior(week, window_end=END, now=NOW)
    rates = sorted(p.likes / p.views for p in week)
    assert rates[len(rates) // 4] < prior.typical_rate < rates[3 * len(rates) // 4]
    assert MIN_PSEUDO_VIEWS <= prior.pseudo_views <= MAX_PSEUDO_VIEWS
    busier = [replace(p, likes=p.likes * 2) for p in week]
    assert fit_prior(busier, window_end=END, now=NOW).typical_rate > prior.typical_rate


def test_reasons_are_readable_json_and_match_the_score() -> None:
    ranking = rank(
        [post(1, views=20_000, likes=3_000), *typical_week()], week=WEEK, now=NOW, rules=RULES
    )
    top = ranking.items[0]
    reasons = json.loads(json.dumps(top.reasons))
    assert top.rank == 1 and top.post_id == 1
    assert reasons["score"] == pytest.approx(top.score, rel=1e-5)
    for key in ("engagement_rate", "typical_rate", "shrunk_rate", "reach_factor", "summary"):
        assert key in reasons
    assert reasons["pinned"] is False
    assert reasons["summary"].startswith(
        "Covered by one source; readers engaged far more than with a typical post"
    )


# --- rule 3: duplicates ------------------------------------------------------------------

SAME_STORY = (
    "EU agrees 2040 climate target of 90% emissions cut",
    "EU agrees on 2040 climate goal: 90% emissions cut",
    "UPDATE 1-EU ministers agree 90% emissions cut target for 2040 - Guardian",
)


def test_near_duplicates_count_once_and_are_listed_under_the_best() -> None:
    posts = [
        post(1, title=SAME_STORY[0], source="Reuters", views=5_000, likes=400),
        post(2, title=SAME_STORY[1], source="DW", views=5_000, likes=300),
        post(3, title=SAME_STORY[2], source="Guardian", views=5_000, likes=200),
        post(4, title="Battery prices rise 20% in 2025", views=5_000, likes=150),
        post(5, title="Battery prices fall 20% in 2025", views=5_000, likes=140),
    ]
    ranking = rank(posts, week=WEEK, now=NOW, rules=RULES)
    assert ids(ranking) == [1, 4, 5]
    top = ranking.items[0]
    assert top.duplicates == (2, 3)
    assert top.reasons["duplicates"] == [2, 3]
    assert top.reasons["coverage"] == {
        "count": 3,
        "sources": ["Reuters", "DW", "Guardian"],
        "posts": 3,
    }
    assert top.reasons["also_in"] == ["DW", "Guardian"]
    assert top.reasons["summary"].startswith("Covered by 3 sources (Reuters, DW, Guardian)")
    assert reason_of(ranking, 2) == reason_of(ranking, 3) == "duplicate-of:1"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "CATL starts mass production of sodium-ion batteries for cars",
            "CATL begins mass production of sodium-ion batteries for cars",
        ),
        (
            "Amazon deforestation falls to lowest level in a decade",
            "Brazil: Amazon deforestation falls to lowest level in a decade",
        ),
        (
            "UK auction secures record 9GW of offshore wind",
            "UK auction secures record 9GW of offshore wind capacity",
        ),
        (
            "Fossil CO2 emissions set to hit record high in 2026, Global Carbon Budget finds",
            "Fossil fuel CO2 emissions to hit record high in 2026, says Global Carbon Budget",
        ),
        ("Oil prices climb as Europe enters winter", "Oil prices rise as Europe enters winter!"),
        (SAME_STORY[0], SAME_STORY[1]),
    ],
)
def test_reworded_titles_are_one_story(first: str, second: str) -> None:
    assert same_story(first, second) and same_story(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "China installs record solar capacity in May",
            "China installs record wind capacity in May",
        ),
        (
            "UK auction secures record 9GW of offshore wind",
            "UK auction secures record 5GW of offshore wind",
        ),
        ("Tesla recalls 2,000 cars in China", "Tesla recalls 3,000 cars in China"),
        ("Oil prices rise as OPEC cuts output", "Oil prices fall as OPEC cuts output"),
        ("Gas prices climb as Europe enters winter", "Oil prices climb as Europe enters winter"),
        ("Spain approves solar subsidy for farms", "Chile approves solar subsidy for farms"),
        ("Germany Approves Solar Subsidy For Farms", "Spain Approves Solar Subsidy For Farms"),
        (
            "Offshore wind auction in Denmark draws no bids",
            "Onshore wind auction in Denmark draws no bids",
        ),
        ("", ""),
    ],
)
def test_titles_that_swap_a_number_subject_or_name_are_two_stories(first: str, second: str) -> None:
    assert not same_story(first, second) and not same_story(second, first)


def test_syndicated_copies_of_one_wire_text_count_as_one_outlet() -> None:
    wire = "The European Union agreed a legally binding target to cut net emissions 90 % by 2040."
    copies = [
        post(i, title=SAME_STORY[0], summary=wire, source=name, views=5_000, likes=400 - i)
        for i, name in enumerate(["AP", "Local Paper", "Regional Daily"], start=1)
    ]
    own = post(9, title=SAME_STORY[1], source="DW", views=5_000, likes=100)
    ranking = rank([*copies, own], week=WEEK, now=NOW, rules=RULES)
    top = ranking.items[0]
    assert ids(ranking) == [1]
    assert top.reasons["coverage"] == {"count": 2, "sources": ["AP", "DW"], "posts": 4}


def test_wider_coverage_outranks_a_lone_post_without_counters() -> None:
    lone = post(1, title="Solar farm opens in Kent", source="Kent Online", views=0, likes=0)
    covered = [
        post(10 + i, title=title, source=f"Outlet {i}", views=0, likes=0)
        for i, title in enumerate(
            [SAME_STORY[0], SAME_STORY[1], SAME_STORY[2], "EU sets 90% emissions cut for 2040"]
        )
    ]
    ranking = rank([lone, *covered], week=WEEK, now=NOW, rules=RULES)
    assert [item.reasons["coverage"]["count"] for item in ranking.items] == [4, 1]
    assert ranking.items[0].reasons["has_metrics"] is False
    assert "no engagement figures" in ranking.items[0].reasons["summary"]
    assert ranking.engagement_data is False


def test_dropping_a_story_s_listed_post_drops_the_story_not_just_the_outlet() -> None:
    story = [
        post(i, title=title, source=f"Outlet {i}", views=5_000, likes=400 - i)
        for i, title in enumerate(SAME_STORY, start=1)
    ]
    other = post(9, title="Kenya opens geothermal plant", views=5_000, likes=100)
    ranking = rank([*story, other], week=WEEK, now=NOW, rules=Rules(TOPICS, drops=frozenset({1})))
    assert ids(ranking) == [9]
    assert reason_of(ranking, 1) == "dropped"
    assert reason_of(ranking, 2) == reason_of(ranking, 3) == "story-dropped:1"
    pinned = rank(
        [*story, other], week=WEEK, now=NOW, rules=Rules(TOPICS, drops=frozenset({1}), pins=(2,))
    )
    assert ids(pinned) == [2, 9]
    assert pinned.items[0].duplicates == (3,)


def test_stored_reasons_keep_a_hundred_names_of_a_story_told_by_thousands() -> None:
    lead = "Global solar installations passed 600 GW this year, the industry body said."
    copies = [
        post(
            i,
            title=f"Solar installs top 600 GW {'!' * (i % 3)}",
            summary=lead,
            source=f"Outlet {i}",
            views=0,
            likes=0,
        )
        for i in range(1, 5001)
    ]
    own = [
        post(
            6000 + i,
            title=f"Solar installs top 600 GW, {distinct_title(i)[:6]} says",
            source=f"Own {i}",
            views=0,
            likes=0,
        )
        for i in range(150)
    ]
    ranking = rank(copies + own, week=WEEK, now=NOW, rules=RULES)
    top = ranking.items[0]
    assert len(ranking.items) == 1
    assert top.reasons["coverage"]["posts"] == 5150
    assert top.reasons["coverage"]["count"] == 151  # the wire copies count once
    assert len(top.reasons["coverage"]["sources"]) == len(top.reasons["duplicates"]) == 100
    assert len(top.duplicates) == 5149


def test_fifteen_outlets_without_counters_beat_a_modest_post_and_a_viral_post_beats_both() -> None:
    background = typical_week(count=60)  # 500-5,000 views, 1-5 % likes
    verbs = ["agrees", "sets", "adopts", "backs", "seals"]
    goals = ["target", "goal", "climate aim"]
    outlets = [
        post(
            100 + i,
            title=f"EU {verbs[i // 3]} 90% emissions cut {goals[i % 3]} for 2040",
            source=f"Outlet {chr(65 + i)}",
            views=0,
            likes=0,
        )
        for i in range(15)
    ]
    modest = post(200, title="Kenya opens geothermal plant", views=3_000, likes=90)
    viral = post(300, title="Video: how a heat pump works", views=400_000, likes=40_000)
    ranking = rank([*background, *outlets, modest, viral], week=WEEK, now=NOW, rules=RULES)
    where = {item.post_id: item.rank for item in ranking.items}
    story = next(item for item in ranking.items if item.post_id in {o.id for o in outlets})
    assert story.reasons["coverage"]["count"] == 15
    assert where[300] == 1
    assert story.rank == 2
    assert 200 not in where or where[200] > story.rank


def test_empty_symbol_foreign_and_sourceless_posts_rank_with_clear_reasons() -> None:
    odd = [
        post(1, title="", views=900, likes=40),
        post(2, title="!!! ???", views=900, likes=39),
        post(3, title="🔥🔋🔥", views=900, likes=38),
        post(4, title="Energiewende: Bundestag beschließt Netzpaket", views=900, likes=37),
        post(5, title="中国光伏装机创纪录", source="", views=900, likes=36),
        post(6, title="  ", source="   ", views=0, likes=0),
    ]
    ranking = rank(odd, week=WEEK, now=NOW, rules=RULES)
    assert sorted(ids(ranking)) == [1, 2, 3, 4, 5, 6]  # nothing merged on no words
    nameless = next(item for item in ranking.items if item.post_id == 5)
    assert nameless.reasons["coverage"]["sources"] == ["(no source)"]
    assert nameless.reasons["summary"].startswith("Covered by one source")


def test_solar_and_wind_records_are_both_listed() -> None:
    posts = [
        post(1, title="China installs record solar capacity in May", views=5_000, likes=400),
        post(2, title="China installs record wind capacity in May", views=5_000, likes=300),
        post(
            3,
            title="China installs record solar capacity in May - Outlet 3",
            views=5_000,
            likes=200,
        ),
    ]
    ranking = rank(posts, week=WEEK, now=NOW, rules=RULES)
    assert ids(ranking) == [1, 2]
    assert ranking.items[0].duplicates == (3,)


def test_duplicates_below_the_cut_are_still_attached() -> None:
    posts = [
        post(1, title=SAME_STORY[0], views=5_000, likes=400),
        post(2, views=5_000, likes=300),
        post(3, views=5_000, likes=200),
        post(4, title=SAME_STORY[1], views=5_000, likes=10),
    ]
    ranking = rank(posts, week=WEEK, now=NOW, rules=Rules(topics=TOPICS, size=2))
    assert ids(ranking) == [1, 2]
    assert ranking.items[0].duplicates == (4,)
    assert reason_of(ranking, 3) == "below-cut"
    assert reason_of(ranking, 4) == "duplicate-of:1"


# --- rule 4: diversity -------------------------------------------------------------------


def test_at_most_max_per_source_case_insensitively() -> None:
    sources = ["Reuters", "reuters", "REUTERS ", "Reuters", "Reuters"]
    crowd = [post(i, source=s, views=5_000, likes=500 - i) for i, s in enumerate(sources, 1)]
    others = [post(10 + i, views=5_000, likes=100 - i) for i in range(3)]
    ranking = rank(crowd + others, week=WEEK, now=NOW, rules=Rules(topics=TOPICS, size=5))
    assert ids(ranking) == [1, 2, 3, 10, 11]
    assert reason_of(ranking, 4) == "source-cap:Reuters"
    assert reason_of(ranking, 12) == "below-cut"


# --- rule 5: editors win -----------------------------------------------------------------


def test_pins_come_first_in_pin_order_even_off_topic_or_sent() -> None:
    posts = [
        post(1, views=5_000, likes=500),
        post(2, topics=("sports",), likes=1),
        post(3, likes=2),
        post(4, views=5_000, likes=400),
    ]
    rules = Rules(topics=TOPICS, pins=(3, 2), already_sent=frozenset({3}))
    ranking = rank(posts, week=WEEK, now=NOW, rules=rules)
    assert ids(ranking) == [3, 2, 1, 4]
    assert ranking.items[0].reasons["pinned"] is True
    assert ranking.items[0].reasons["summary"].startswith("Pinned by an editor")
    assert ranking.items[2].reasons["pinned"] is False


def test_pins_ignore_the_source_cap_but_use_up_its_slots() -> None:
    posts = [post(i, source="Reuters", views=5_000, likes=500 - i) for i in range(1, 4)]
    posts.append(post(9, source="reuters", likes=1))
    rules = Rules(topics=TOPICS, max_per_source=2, pins=(9,))
    ranking = rank(posts, week=WEEK, now=NOW, rules=rules)
    assert ids(ranking) == [9, 1]
    assert reason_of(ranking, 2) == "source-cap:Reuters"


def test_all_pins_are_listed_even_beyond_the_size() -> None:
    posts = [post(i) for i in range(1, 6)]
    ranking = rank(posts, week=WEEK, now=NOW, rules=Rules(topics=TOPICS, size=2, pins=(5, 4, 3)))
    assert ids(ranking) == [5, 4, 3]


def test_drops_are_out_and_unknown_pins_are_reported() -> None:
    posts = [post(1, views=20_000, likes=3_000), post(2)]
    ranking = rank(
        posts, week=WEEK, now=NOW, rules=Rules(topics=TOPICS, drops=frozenset({1}), pins=(77,))
    )
    assert ids(ranking) == [2]
    assert reason_of(ranking, 1) == "dropped"
    assert reason_of(ranking, 77) == "pin-not-found"


def test_pinned_and_dropped_at_once_is_an_error() -> None:
    with pytest.raises(ValueError, match="both pinned and dropped"):
        Rules(topics=TOPICS, pins=(1,), drops=frozenset({1}))


# --- rule 6: short and empty weeks -------------------------------------------------------


def test_fewer_than_size_lists_what_there_is_with_a_note() -> None:
    ranking = rank([post(1), post(2), post(3, topics=("sports",))], week=WEEK, now=NOW, rules=RULES)
    assert len(ranking.items) == 2
    assert ranking.note is not None and "only 2 of 10" in ranking.note
    assert "1 off-topic" in ranking.note


def test_full_issue_has_no_note() -> None:
    assert rank(typical_week(), week=WEEK, now=NOW, rules=RULES).note is None


def test_empty_week_says_why() -> None:
    nothing = rank([], week=WEEK, now=NOW, rules=RULES)
    assert nothing.items == [] and nothing.note == f"no posts published in {WEEK}"
    elsewhere = rank(
        [post(1, published_at=END + timedelta(days=1))], week=WEEK, now=NOW, rules=RULES
    )
    assert elsewhere.note == f"no posts published in {WEEK}"
    off = [post(i, topics=("sports",)) for i in range(12)]
    ranking = rank(off, week=WEEK, now=NOW, rules=RULES)
    assert ranking.items == []
    assert ranking.note == f"12 posts in {WEEK}, none eligible: 12 off-topic"


# --- rule 7: determinism -----------------------------------------------------------------


def test_same_input_same_order_under_shuffling() -> None:
    week = typical_week(120, seed=3) + [
        post(1, title=SAME_STORY[0], source="A"),
        post(2, title=SAME_STORY[1], source="B"),
    ]
    first = rank(week, week=WEEK, now=NOW, rules=RULES)
    for seed in range(5):
        shuffled = week[:]
        random.Random(seed).shuffle(shuffled)
        again = rank(shuffled, week=WEEK, now=NOW, rules=RULES)
        assert again.items == first.items
        assert again.excluded == first.excluded


def test_ties_go_to_the_newer_post_then_the_smaller_id() -> None:
    # Both live less than the minimum hours, so their exposure and scores are exactly equal.
    older, newer = END - timedelta(hours=4), END - timedelta(hours=2)
    posts = [post(5, published_at=older), post(9, published_at=newer), post(7, published_at=older)]
    ranking = rank(posts, week=WEEK, now=NOW, rules=RULES)
    assert len({item.score for item in ranking.items}) == 1
    assert ids(ranking) == [9, 5, 7]
