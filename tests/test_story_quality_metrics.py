"""The story-clustering metrics of bench/story_quality.py, on clusterings small enough to count by
hand, plus the baselines and the shape of the labelled data files it reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "story_quality.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_story_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


sq = _load()


def test_pairwise_and_bcubed_counted_by_hand():
    # Stories a = {0, 1, 2}, b = {3, 4}; predicted {0, 1}, {2, 3, 4}.
    gold, predicted = "aaabb", [1, 1, 2, 2, 2]
    # Pairs put together: (0,1) right, (2,3) (2,4) wrong, (3,4) right -> P = 2/4.
    # Same-story pairs: (0,1) (0,2) (1,2) (3,4), of which (0,1) and (3,4) together -> R = 2/4.
    assert sq.pairwise_scores(gold, predicted) == pytest.approx((0.5, 0.5, 0.5))
    # B-cubed precision per item: 2/2, 2/2, 1/3, 2/3, 2/3; recall: 2/3, 2/3, 1/3, 2/2, 2/2.
    assert sq.bcubed_scores(gold, predicted) == pytest.approx((11 / 15, 11 / 15, 11 / 15))


def test_everything_apart_and_everything_together():
    gold = "aab"
    assert sq.pairwise_scores(gold, [0, 1, 2]) == pytest.approx((1.0, 0.0, 0.0))
    assert sq.bcubed_scores(gold, [0, 1, 2]) == pytest.approx((1.0, 2 / 3, 0.8))
    # One cluster of a, a, b, c: 6 pairs put together, 1 of them right; 1 same-story pair.
    p, r, f = sq.pairwise_scores("aabc", [7, 7, 7, 7])
    assert (p, r) == pytest.approx((1 / 6, 1.0)) and f == pytest.approx(2 / 7)
    # B-cubed precision: 2/4, 2/4, 1/4, 1/4 -> 0.375; every story is whole -> recall 1.
    assert sq.bcubed_scores("aabc", [7, 7, 7, 7])[:2] == pytest.approx((0.375, 1.0))


def test_perfect_clustering_whatever_the_label_values():
    gold = ["x", "y", "x", "z", "y"]
    assert sq.pairwise_scores(gold, [5, 9, 5, 0, 9]) == pytest.approx((1.0, 1.0, 1.0))
    assert sq.bcubed_scores(gold, [5, 9, 5, 0, 9]) == pytest.approx((1.0, 1.0, 1.0))


def test_batches_add_up_and_never_pair_across():
    first = sq.contingency_counts("aab", [0, 0, 1])
    second = sq.contingency_counts("ab", [0, 0])  # same label values, but another week
    total = first + second
    assert (total.items, total.pairs_together, total.pairs_predicted, total.pairs_gold) == (
        5,
        1,
        2,
        1,
    )
    assert sq.pairwise_prf(total) == pytest.approx((0.5, 1.0, 2 / 3))
    # B-cubed: first week 1, 1, 1 (P) and second 1/2, 1/2 -> 4/5; recall all 1.
    assert sq.bcubed_prf(total) == pytest.approx((0.8, 1.0, 2 * 0.8 / 1.8))


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        sq.contingency_counts("aa", [0])


def _items(*titles):
    from datetime import UTC, datetime

    moment = datetime(2026, 1, 5, tzinfo=UTC)
    return [sq.Item(i, t, "", "", moment, str(i), "w") for i, t in enumerate(titles)]


def test_baselines():
    items = _items(
        "Solar farm opens in Spain!",
        "solar FARM opens in spain",
        "Wind farm opens",
        "In Spain, solar farm opens",
        "",
    )
    exact = sq.cluster_exact(items)
    assert exact[0] == exact[1] and len({exact[0], exact[2], exact[3], exact[4]}) == 4
    fuzzy = sq.cluster_fuzzy(items)
    assert fuzzy[0] == fuzzy[1] == fuzzy[3] and fuzzy[2] != fuzzy[0]


@pytest.mark.parametrize("name", sq.SETS)
def test_data_files_are_whole_weeks_of_real_stories(name):
    items = sq.load_set(name)
    assert len(items) >= 100 and len({it.id for it in items}) == len(items)
    assert all(it.title and it.published_at.tzinfo is not None for it in items)
    weeks_of_story: dict[str, set[str]] = {}
    for it in items:
        weeks_of_story.setdefault(it.story, set()).add(it.batch)
    assert all(len(weeks) == 1 for weeks in weeks_of_story.values())  # no story is cut in two
    sizes = [sum(it.story == s for it in items) for s in weeks_of_story]
    assert sum(size >= 2 for size in sizes) >= 50
