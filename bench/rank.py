"""Ranking speed: cluster and rank a synthetic week of 10k and 100k posts; print both times and
their ratio. With --db, also draft the 100k-post week through a migrated SQLite database
(`draft_issue`: load the rows, cluster, rank, write the draft), as the weekly job does."""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.issues.drafts import draft_issue  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Post  # noqa: E402
from app.ranking.rules import Rules  # noqa: E402
from app.ranking.score import Candidate, rank  # noqa: E402
from app.ranking.stories import clear_caches  # noqa: E402
from app.weeks import week_window  # noqa: E402

WEEK = "2026-W48"
TOPICS = frozenset({"sustainability", "energy", "climate", "solar", "wind", "grid", "carbon"})
PLACES = (
    "Germany",
    "China",
    "India",
    "Texas",
    "Kenya",
    "Brazil",
    "Japan",
    "Spain",
    "Chile",
    "Norway",
    "Australia",
    "Vietnam",
)
TECH = (
    "solar",
    "wind",
    "hydrogen",
    "battery",
    "nuclear",
    "geothermal",
    "grid",
    "heat-pump",
    "EV",
    "offshore-wind",
)
ACTS = (
    "record",
    "delay",
    "auction",
    "subsidy",
    "tariff",
    "ban",
    "boom",
    "slump",
    "deal",
    "probe",
    "plan",
    "study",
)
FRAMES = (
    "{place} {verb} {tech} {act} as prices {move}",
    "Why {place}'s {tech} {act} matters for the {year} climate target",
    "{tech} {act} in {place}: what it means for the grid",
    "Inside {place}'s {tech} {act}, {n} GW and counting",
    "{place} {verb} a {tech} {act} worth ${n} billion",
)
VERBS = ("unveils", "approves", "scraps", "expands", "delays", "weighs", "signs")
OFF_TOPIC = ("sports", "celebrity", "travel")


def synthetic_week(posts: int, seed: int = 7) -> list[Candidate]:
    """A week of posts: templated titles, ~8% rewordings of another story, 400 sources."""
    rng = random.Random(seed)
    start, _ = week_window(WEEK)
    sources = [f"Source {i}" for i in range(400)]
    titles: list[str] = []
    candidates = []
    for i in range(posts):
        if titles and rng.random() < 0.08:  # same story, another outlet, lightly reworded
            title = rng.choice(titles).replace(":", " -") + rng.choice(["", " (report)", "!"])
        else:
            title = rng.choice(FRAMES).format(
                place=rng.choice(PLACES),
                tech=rng.choice(TECH),
                act=rng.choice(ACTS),
                verb=rng.choice(VERBS),
                move=rng.choice(["rise", "fall"]),
                year=rng.choice([2030, 2035, 2040]),
                n=rng.randint(1, 900),
            )
            titles.append(title)
        kind = rng.random()
        topics = (
            (rng.choice(sorted(TOPICS)), "policy")
            if kind < 0.7
            else (rng.choice(OFF_TOPIC),)
            if kind < 0.8
            else ()
        )
        views = int(10 ** rng.uniform(1, 5))
        rate = rng.betavariate(2, 40)
        published = start + timedelta(seconds=rng.uniform(-86400, 8 * 86400))  # some outside
        candidates.append(
            Candidate(
                i,
                f"https://example.org/{i}",
                title,
                "A two-line summary of the story.",
                rng.choice(sources),
                topics,
                published,
                views,
                int(views * rate),
                int(views * rate * 0.2),
                int(views * rate * 0.1),
            )
        )
    return candidates


def best_time(candidates: list[Candidate], repeats: int) -> float:
    """Fastest of a few runs of `rank`, each with cold caches (the machine is shared and noisy)."""
    _, end = week_window(WEEK)
    rules = Rules(topics=TOPICS, pins=(3,), drops=frozenset({5}), already_sent=frozenset({8}))
    times = []
    for _ in range(repeats):
        clear_caches()  # each run reads its headlines from scratch, as a weekly job does
        began = time.perf_counter()
        ranking = rank(candidates, week=WEEK, now=end + timedelta(hours=6), rules=rules)
        times.append(time.perf_counter() - began)
        assert len(ranking.items) == rules.size
    return min(times)


def post_rows(candidates: list[Candidate], *, now: datetime) -> list[dict]:
    """The candidates as rows of the posts table (ids kept), stored at `now`."""
    return [
        {
            "id": c.id + 1,
            "url": c.url,
            "title": c.title,
            "summary": c.summary,
            "source": c.source,
            "topics": list(c.topics),
            "published_at": c.published_at,
            "views": c.views,
            "likes": c.likes,
            "shares": c.shares,
            "comments": c.comments,
            "created_at": now,
            "updated_at": now,
        }
        for c in candidates
    ]


def draft_time(candidates: list[Candidate]) -> float:
    """Seconds for `draft_issue` on a fresh SQLite file holding `candidates` as posts."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        now = week_window(WEEK)[1] + timedelta(hours=6)
        with Session(engine) as session, session.begin():
            session.execute(insert(Post), post_rows(candidates, now=now))
        settings = Settings(database_url=url, topics=sorted(TOPICS))
        with Session(engine) as session, session.begin():
            clear_caches()
            began = time.perf_counter()
            issue = draft_issue(session, week=WEEK, now=now, settings=settings)
            seconds = time.perf_counter() - began
            assert len(issue.items) == settings.issue_size
        engine.dispose()
    return seconds


def main() -> None:
    """Time 10k and 100k-post weeks in one run and print one line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", action="store_true", help="also draft the large week via SQLite")
    args = parser.parse_args()
    small = best_time(synthetic_week(args.small), args.repeats)
    large = best_time(synthetic_week(args.large), args.repeats)
    print(
        f"rank: {args.small:,} posts {small:.3f} s, {args.large:,} posts {large:.3f} s, "
        f"ratio {large / small:.1f} (linear would be {args.large / args.small:.0f}; "
        f"n log n {args.large * math.log(args.large) / (args.small * math.log(args.small)):.1f})"
        f", target < 3 s at 100k"
    )
    if args.db:
        seconds = draft_time(synthetic_week(args.large))
        print(f"draft through SQLite: {args.large:,} posts {seconds:.3f} s, target < 5 s")


if __name__ == "__main__":
    main()
