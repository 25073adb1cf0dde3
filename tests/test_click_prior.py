"""Tests for the per-source click prior: position-corrected, shrunk toward 1, bad records."""

from __future__ import annotations

import math
import random

import pytest

from app.ranking.click_prior import (
    PRIOR_RANGE,
    ClickRecord,
    position_shares,
    source_click_priors,
    source_key,
)


def issue(week: str, sources: list[str], clicks: list[int]) -> list[ClickRecord]:
    return [
        ClickRecord(week, rank, source, n)
        for rank, (source, n) in enumerate(zip(sources, clicks, strict=True), start=1)
    ]


def test_no_history_means_no_prior() -> None:
    assert source_click_priors([]) == {}


def test_a_source_always_at_position_one_is_not_rewarded_for_the_position() -> None:
    # Readers click by position only (1/log2(rank+1)); "Top" always sits first.
    records = []
    for week in range(12):
        sources = ["Top", "B", "C", "D", "E"]
        clicks = [round(200 / math.log2(rank + 1)) for rank in range(1, 6)]
        records += issue(f"2026-W{week + 10}", sources, clicks)
    priors = source_click_priors(records)
    assert priors["top"] == pytest.approx(1.0, abs=0.05)
    assert all(p == pytest.approx(1.0, abs=0.05) for p in priors.values())


def test_a_source_clicked_more_than_its_positions_draw_is_lifted_and_one_less_is_lowered() -> None:
    rng = random.Random(3)
    quality = {"Good": 2.0, "Plain": 1.0, "Weak": 0.5}
    records = []
    for week in range(10):
        order = rng.sample(sorted(quality), 3)
        clicks = [round(100 * quality[s] / (rank + 1) ** 0.7) for rank, s in enumerate(order)]
        records += issue(f"2026-W{week + 10}", order, clicks)
    priors = source_click_priors(records)
    assert priors["good"] > 1.3
    assert priors["weak"] < 0.8
    assert priors["weak"] < priors["plain"] < priors["good"]


def test_little_evidence_stays_near_one() -> None:
    priors = source_click_priors(issue("2026-W10", ["Lucky", "Other"], [3, 0]))
    assert 1.0 < priors["lucky"] < 1.3
    assert 0.8 < priors["other"] < 1.0


def test_priors_stay_within_their_range_however_lopsided() -> None:
    records = []
    for week in range(30):
        records += issue(f"2026-W{week:02d}", ["Star", "Dud"], [5000, 0])
    priors = source_click_priors(records)
    assert priors["star"] <= PRIOR_RANGE[1]
    assert priors["dud"] >= PRIOR_RANGE[0]


def test_issues_nobody_clicked_and_bad_records_say_nothing() -> None:
    records = issue("2026-W10", ["A", "B"], [0, 0]) + [
        ClickRecord("2026-W11", 0, "A", 50),  # rank 0 does not exist
        ClickRecord("2026-W11", 1, "B", -5),  # negative clicks
    ]
    assert source_click_priors(records) == {}


def test_sources_are_matched_without_case_or_spaces() -> None:
    assert source_key("  Reuters ") == source_key("REUTERS") == "reuters"
    records = issue("2026-W10", ["Reuters", "reuters "], [10, 10])
    assert set(source_click_priors(records)) == {"reuters"}


def test_position_shares_start_at_one_and_stay_positive() -> None:
    shares = position_shares(issue("2026-W10", list("ABCDEFGHIJ"), [50] * 10))
    assert shares[1] == 1.0
    assert all(shares[r] > 0 for r in range(1, 11))
