"""A week of real headlines from real outlets, without counters, through the API (SPEC §7 rule 3).

The week is one ISO week of AllSides roundups (bench/data/allsides.jsonl, cited in
bench/data/README.md): each story told by a left, a centre and a right outlet in their own words.
Posted with no metrics, as a feeds-only install has them, the drafted issue must list ten
different stories, the most widely covered first, each with its other outlets under it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from app.config import Settings

DATA = Path(__file__).resolve().parent.parent / "bench" / "data" / "allsides.jsonl"
WEEK = "2021-W25"


def real_week(week: str) -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return [row for row in rows if row["batch"] == week]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"topics": ["politics"]})


def test_a_real_week_without_counters_drafts_ten_different_stories_most_covered_first(
    client, admin_headers
) -> None:
    rows = real_week(WEEK)
    gold = {f"https://allsides.example/{row['id']}": row["story"] for row in rows}
    assert len(set(gold.values())) >= 15  # enough stories for a full issue
    posts = [
        {
            "url": f"https://allsides.example/{row['id']}",
            "title": row["title"],
            "summary": row["summary"],
            "source": row["source"],
            "topics": ["politics"],
            "published_at": row["published_at"],
        }
        for row in rows
    ]
    stored = client.post("/api/posts", json=posts, headers=admin_headers)
    assert stored.status_code == 200, stored.text
    drafted = client.post("/api/issues", json={"week": WEEK}, headers=admin_headers)
    assert drafted.status_code in (200, 201), drafted.text
    items = drafted.json()["items"]

    assert len(items) == 10
    stories = [gold[item["post"]["url"]] for item in items]
    assert len(set(stories)) == 10, Counter(stories).most_common(3)  # one story, one slot
    counts = [item["reasons"]["coverage"]["count"] for item in items]
    assert counts[0] == max(counts) >= 3
    assert sum(counts[:5]) >= sum(counts[5:])
    top = items[0]["reasons"]
    assert top["has_metrics"] is False
    assert top["summary"].startswith(f"Covered by {counts[0]} sources (")
    assert len(top["duplicates"]) == top["coverage"]["posts"] - 1
    # The listed story's other outlets are folded under it. (The fold may hold more: AllSides
    # labels "Pelosi to decide on a Jan. 6 committee" and "Pelosi creates it" two days later as
    # two stories, which a weekly digest tells as one; bench/story_quality.py counts that.)
    listed = client.get(f"/api/posts?week={WEEK}&limit=500", headers=admin_headers).json()
    url_of = {post["id"]: post["url"] for post in listed["items"]}
    for item in items:
        story = gold[item["post"]["url"]]
        siblings = {url for url, label in gold.items() if label == story} - {item["post"]["url"]}
        folded = {url_of[pid] for pid in item["reasons"]["duplicates"]}
        assert siblings <= folded, (item["post"]["title"], siblings - folded)
