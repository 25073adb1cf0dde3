"""ISO weeks as people read them (app/weeks.py `week_dates`)."""

from __future__ import annotations

import pytest

from app.weeks import week_dates


@pytest.mark.parametrize(
    ("week", "with_year", "expected"),
    [
        ("2026-W48", True, "Mon 23 – Sun 29 Nov 2026"),
        ("2026-W48", False, "Mon 23 – Sun 29 Nov"),
        ("2026-W49", True, "Mon 30 Nov – Sun 6 Dec 2026"),  # across a month
        ("2026-W53", True, "Mon 28 Dec 2026 – Sun 3 Jan 2027"),  # across a year
        ("2026-W53", False, "Mon 28 Dec – Sun 3 Jan"),
        ("2027-W01", True, "Mon 4 – Sun 10 Jan 2027"),
        ("2020-W01", True, "Mon 30 Dec 2019 – Sun 5 Jan 2020"),  # week 1 starting in December
    ],
)
def test_a_week_reads_as_its_days(week, with_year, expected):
    assert week_dates(week, with_year=with_year) == expected


@pytest.mark.parametrize("bad", ["2026-W54", "2025-W53", "2026-48", "", "W48"])
def test_a_week_that_is_not_one_is_refused(bad):
    with pytest.raises(ValueError):
        week_dates(bad)
