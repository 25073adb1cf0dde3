"""Tests for story clustering: one event however worded, different events apart, bad input."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from app.ranking.stories import Headline, cluster_stories, group_stories

MONDAY = datetime(2026, 11, 23, 8, tzinfo=UTC)

# One real-looking week: three events told by several outlets, plus unrelated posts that share
# words with them (the traps of SPEC §7 rule 3).
HORNSEA = [
    (
        "Ørsted scraps Hornsea 4 offshore wind farm",
        "Reuters",
        "Orsted said it would stop developing the Hornsea 4 project off England, citing costs.",
    ),
    (
        "UPDATE 1-Orsted drops Hornsea 4 as costs soar - sources",
        "Euronews",
        "Danish developer Orsted has halted Hornsea 4, one of the UK's largest planned wind farms.",
    ),
    (
        "Hornsea 4 cancelled as developer cites soaring costs",
        "The Guardian",
        "The 2.4GW Hornsea 4 wind farm will not go ahead, Ørsted said on Monday.",
    ),
]
AID = [
    (
        "UPDATE 1-EU clears EUR 5 billion German state aid for hydrogen pipelines",
        "Reuters",
        "The European Commission approved a German scheme to support the hydrogen core network.",
    ),
    (
        "Brussels approves €5bn German subsidy for hydrogen core network",
        "Euronews",
        "The Commission cleared the aid under state aid rules.",
    ),
    (
        "EU gives green light to €5 billion German hydrogen grid aid",
        "DW",
        "Germany can pay up to 5 billion euros for its hydrogen pipeline network.",
    ),
]
AUCTION_YES = [
    (
        "Germany approves offshore wind auction for 2027",
        "Electrek",
        "The Bundestag approved the design of next year's auction.",
    )
]
AUCTION_NO = [
    (
        "Germany cancels offshore wind auction for 2027",
        "Clean Energy Wire",
        "The economy ministry called off the auction after industry warnings.",
    )
]
UK_AUCTION = [
    (
        "UK auction secures record 9GW of offshore wind",
        "Carbon Brief",
        "Britain's latest contracts-for-difference round drew record bids.",
    )
]
OTHERS = [
    ("The heat pump water heater is having a moment", "Canary Media", ""),
    ("How one Chicago nonprofit trains electricians for the heat pump boom", "Canary Media", ""),
    ("Battery prices fall 20% in 2025", "Electrek", ""),
    ("Battery prices rise 20% in 2025", "Heatmap", ""),
]


def headlines(rows: list[tuple[str, str, str]], start: int = 0) -> list[Headline]:
    """Headlines an hour apart from Monday morning, ids from `start`."""
    return [
        Headline(start + i, title, summary, source, MONDAY + timedelta(hours=i))
        for i, (title, source, summary) in enumerate(rows)
    ]


def week() -> list[Headline]:
    return headlines(HORNSEA + AID + AUCTION_YES + AUCTION_NO + UK_AUCTION + OTHERS)


def groups(posts: list[Headline]) -> list[set[int]]:
    labels = cluster_stories(posts)
    found: dict[int, set[int]] = {}
    for post, label in zip(posts, labels, strict=True):
        found.setdefault(label, set()).add(post.id)
    return sorted(found.values(), key=min)


def test_paraphrases_numbers_and_wire_prefixes_make_one_story_and_traps_stay_apart() -> None:
    assert groups(week()) == [{0, 1, 2}, {3, 4, 5}, {6}, {7}, {8}, {9}, {10}, {11}, {12}]


def test_labels_are_the_index_of_the_first_post_of_each_story() -> None:
    labels = cluster_stories(week())
    assert labels[:6] == [0, 0, 0, 3, 3, 3]
    assert labels[6:] == list(range(6, len(labels)))


def test_the_same_words_days_apart_are_two_stories() -> None:
    first = headlines(HORNSEA[:1])
    later = [Headline(99, HORNSEA[2][0], HORNSEA[2][2], "Guardian", MONDAY + timedelta(days=5))]
    assert len(set(cluster_stories(first + later))) == 2


def test_identical_wire_copies_are_one_copy_group_and_own_wording_is_not() -> None:
    lead = "The European Commission approved a German scheme to support the hydrogen network."
    rows = [(AID[0][0], outlet, lead) for outlet in ("AP", "Local Paper", "Regional Daily")]
    posts = headlines(rows + [AID[2]])
    stories = group_stories(posts)
    assert stories.story == [0, 0, 0, 0]
    assert stories.copies == [0, 0, 0, 3]


def test_empty_punctuation_and_emoji_titles_are_single_stories() -> None:
    rows = [("", "", ""), ("!!!", "", ""), ("🔥🔥🔥", "", ""), ("", "", ""), ("…", "x", "")]
    assert cluster_stories(headlines(rows)) == [0, 1, 2, 3, 4]


def test_five_thousand_identical_titles_are_one_story_quickly() -> None:
    rows = [("Solar panels now cheaper than ever", f"Outlet {i}", "") for i in range(5000)]
    stories = group_stories(headlines(rows))
    assert set(stories.story) == {0}
    assert set(stories.copies) == {0}


def test_missing_sources_and_non_english_titles_cluster_without_error() -> None:
    rows = [
        ("Bundestag beschließt Wasserstoffnetz für 19 Milliarden Euro", "", ""),
        ("Bundestag beschließt Wasserstoff-Kernnetz: 19 Milliarden Euro", "", ""),
        ("中国光伏装机创纪录", "", ""),
        ("Energía solar bate récord en España", "", ""),
    ]
    assert groups(headlines(rows)) == [{0, 1}, {2}, {3}]


def test_an_empty_week_and_a_single_post() -> None:
    assert cluster_stories([]) == []
    assert cluster_stories(headlines(HORNSEA[:1])) == [0]


def test_a_large_week_stays_in_its_stories() -> None:
    # 300 events told by 3-4 outlets each with their own wording, in one week: no story chains
    # into another (each event has its own names and numbers, as real ones do).
    rows, truth = [], []
    for event in range(300):
        place, count = f"Plant{event}", 100 + event
        tellings = [
            f"{place} solar farm adds {count} MW to the grid",
            f"Grid gets {count} MW as {place} solar farm starts",
            f"{place} switches on {count}MW solar plant",
            f"UPDATE 1-{place} solar farm online with {count} MW - sources",
        ][: 3 + event % 2]
        for text in tellings:
            rows.append((text, f"Outlet {len(rows) % 17}", ""))
            truth.append(event)
    labels = cluster_stories(headlines(rows))
    together = Counter(zip(truth, labels, strict=True))
    assert len(together) == 300  # every event is exactly one story
    assert len(set(labels)) == 300
