"""ISO weeks in UTC: an issue covers Monday 00:00 UTC of week W to Monday 00:00 UTC of W+1."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_WEEK_RE = re.compile(r"^\s*(\d{4})-[Ww](\d{2})\s*$")


def require_aware(moment: datetime, what: str) -> None:
    """ValueError unless `moment` carries a UTC offset."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


def parse_week(text: str) -> tuple[int, int]:
    """Parse an ISO week like "2026-W48" into (2026, 48); ValueError says what is wrong."""
    match = _WEEK_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"week must look like 2026-W48, got {text!r}")
    year, week = int(match[1]), int(match[2])
    weeks_in_year = date(year, 12, 28).isocalendar().week
    if not 1 <= week <= weeks_in_year:
        raise ValueError(f"{year} has ISO weeks 01..{weeks_in_year}, got W{week:02d}")
    return year, week


def format_week(year: int, week: int) -> str:
    """Format (2026, 48) as "2026-W48"."""
    return f"{year:04d}-W{week:02d}"


def week_window(week: str) -> tuple[datetime, datetime]:
    """Monday 00:00 UTC of the week (inclusive) to Monday 00:00 UTC of the next (exclusive)."""
    year, number = parse_week(week)
    start = datetime.combine(date.fromisocalendar(year, number, 1), datetime.min.time(), UTC)
    return start, start + timedelta(days=7)


def week_dates(week: str, *, with_year: bool = True) -> str:
    """A week as people read it: "Mon 23 – Sun 29 Nov 2026" (months and years only where needed).

    Readers and editors think in days, not ISO week numbers (issue 12); ValueError as parse_week.
    """
    start = week_window(week)[0].date()
    end = start + timedelta(days=6)
    last = f"Sun {end.day} {end:%b}" + (f" {end.year}" if with_year else "")
    if start.year != end.year and with_year:
        return f"Mon {start.day} {start:%b} {start.year} – {last}"
    if start.month != end.month:
        return f"Mon {start.day} {start:%b} – {last}"
    return f"Mon {start.day} – {last}"


def week_of(moment: datetime) -> str:
    """The ISO week (UTC) containing an aware moment."""
    require_aware(moment, "moment")
    iso = moment.astimezone(UTC).isocalendar()
    return format_week(iso.year, iso.week)


def last_complete_week(now: datetime) -> str:
    """The ISO week that ended most recently before `now` (the week before now's week)."""
    return week_of(now - timedelta(days=7))
