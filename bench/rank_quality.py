"""Ranking quality: NDCG@10 against hidden post quality, ours vs raw counts vs HN gravity."""

from __future__ import annotations

import argparse
import math
import random
import statistics
import string
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.ranking import Candidate, Rules, rank  # noqa: E402
from app.weeks import week_window  # noqa: E402

WEEK = "2026-W48"
TOPICS = frozenset({"energy"})
# ours; raw counts; Hacker-News gravity; engagement/views without shrinkage; a random top 10.
KINDS = ("ours", "raw", "hn", "raw_rate", "random")


@dataclass(frozen=True)
class Setting:
    """One family of simulated weeks."""

    name: str
    quality_shape: tuple[float, float]  # Beta(a, b) of the hidden per-view like probability
    views_quality_link: float  # 0 = views independent of quality, 1 = views follow quality
    tiny_share: float  # share of posts that only got 10-60 views


SETTINGS = (
    Setting("independent", (2.0, 40.0), 0.0, 0.05),
    Setting("weak-link", (2.0, 40.0), 0.3, 0.05),
    Setting("narrow-thin", (4.0, 120.0), 0.0, 0.15),
)


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw (Knuth for small means, normal approximation above 30)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def simulate_week(rng: random.Random, posts: int, setting: Setting):
    """Posts with hidden quality; views log-uniform 100..20,000 scaled by hours live."""
    start, end = week_window(WEEK)
    now = end + timedelta(hours=6)
    reference = (now - start).total_seconds() / 3600
    qualities = [rng.betavariate(*setting.quality_shape) for _ in range(posts)]
    order = sorted(range(posts), key=qualities.__getitem__)
    percentile = {index: position / max(posts - 1, 1) for position, index in enumerate(order)}
    candidates, truth = [], {}
    for i, quality in enumerate(qualities):
        published = start + timedelta(seconds=rng.uniform(0, 7 * 86400))
        hours_live = (now - published).total_seconds() / 3600
        link = setting.views_quality_link
        spread = link * percentile[i] + (1 - link) * rng.random()
        weekly_views = 10 ** (2 + math.log10(200) * spread)
        views = max(1, round(weekly_views * hours_live / reference))
        if rng.random() < setting.tiny_share:
            views = rng.randint(10, 60)
        likes = min(views, poisson(rng, views * quality))
        shares = poisson(rng, views * quality * 0.2)
        comments = poisson(rng, views * quality * 0.1)
        title = " ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(5))
        candidates.append(
            Candidate(i, f"https://example.org/{i}", title, "", f"source-{i}", ("energy",),
                      published, views, likes, shares, comments)
        )  # fmt: skip
        truth[i] = quality
    return candidates, truth, now


def ndcg_at_10(order: list[int], truth: dict[int, float]) -> float:
    """NDCG@10 with the hidden quality as the gain."""
    ideal = sorted(truth.values(), reverse=True)[:10]
    dcg = sum(truth[pid] / math.log2(pos + 2) for pos, pid in enumerate(order[:10]))
    return dcg / sum(gain / math.log2(pos + 2) for pos, gain in enumerate(ideal))


def baselines(candidates: list[Candidate], now) -> tuple[list[int], list[int], list[int]]:
    """Top ids by raw engagement counts, by Hacker-News gravity, and by unshrunk rate."""

    def points(c: Candidate) -> int:
        return c.likes + c.shares + c.comments

    def gravity(c: Candidate) -> float:
        age = (now - c.published_at).total_seconds() / 3600
        return (points(c) - 1) / (age + 2) ** 1.8

    raw = sorted(candidates, key=lambda c: (-points(c), c.id))
    hn = sorted(candidates, key=lambda c: (-gravity(c), c.id))
    rate = sorted(candidates, key=lambda c: (-points(c) / max(c.views, 1), c.id))
    return [c.id for c in raw[:10]], [c.id for c in hn[:10]], [c.id for c in rate[:10]]


def main() -> None:
    """Average NDCG@10 over seeds, week sizes and settings; print one line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--posts", default="300,3000", help="comma-separated week sizes")
    parser.add_argument("--verbose", action="store_true", help="one extra line per setting")
    args = parser.parse_args()
    sizes = [int(n) for n in args.posts.split(",")]
    results: dict[str, dict[str, list[float]]] = {}
    for setting in SETTINGS:
        figures = results.setdefault(setting.name, {k: [] for k in KINDS})
        for size in sizes:
            for seed in range(args.seeds):
                rng = random.Random(f"{setting.name}-{size}-{seed}")
                candidates, truth, now = simulate_week(rng, size, setting)
                ranking = rank(candidates, week=WEEK, now=now, rules=Rules(topics=TOPICS))
                raw, hn, rate = baselines(candidates, now)
                figures["ours"].append(ndcg_at_10([i.post_id for i in ranking.items], truth))
                figures["raw"].append(ndcg_at_10(raw, truth))
                figures["hn"].append(ndcg_at_10(hn, truth))
                figures["raw_rate"].append(ndcg_at_10(rate, truth))
                figures["random"].append(ndcg_at_10(rng.sample(sorted(truth), 10), truth))
    if args.verbose:
        for name, figures in results.items():
            line = " ".join(f"{k}={statistics.fmean(v):.3f}" for k, v in figures.items())
            print(f"  {name}: {line} (min ours {min(figures['ours']):.3f})")
    every = {k: [x for f in results.values() for x in f[k]] for k in KINDS}
    print(
        f"rank_quality NDCG@10 over {len(every['ours'])} weeks "
        f"(seeds={args.seeds} posts={args.posts} settings={len(SETTINGS)}): "
        + " ".join(f"{k}={statistics.fmean(v):.3f}" for k, v in every.items())
        + f" | ours worst week={min(every['ours']):.3f}"
    )


if __name__ == "__main__":
    main()
