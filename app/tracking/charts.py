"""Stats for the admin history page and their charts as server-rendered SVG (no JS, no CDN)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from html import escape

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Issue, IssueItem, IssueStatus, Subscriber

BUCKETS = ("day", "week")
INK, ACCENT, GRID, MUTED = "#1f2937", "#0f766e", "#e5e7eb", "#6b7280"


def _as_date(value: object) -> date:
    # SQLite's date() gives text, PostgreSQL's a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _per_day(session: Session, column: object) -> Counter[date]:
    day = func.date(column)
    query = (
        select(day, func.count())
        .where(column.isnot(None), Subscriber.confirmed_at.isnot(None))  # type: ignore[attr-defined]
        .group_by(day)
    )
    return Counter({_as_date(when): number for when, number in session.execute(query)})


def subscriber_series(
    session: Session, *, now: datetime, days: int = 90, by: str = "day"
) -> list[tuple[date, int]]:
    """Confirmed readers at the end of each day (or ISO week) of the last `days` days.

    Counted from `confirmed_at` and `unsubscribed_at`, so it is approximate: a reader who
    confirmed again after leaving counts from their latest confirmation only, and bounces and
    complaints (which set no `unsubscribed_at`) still count as readers.
    """
    if by not in BUCKETS:
        raise ValueError(f"by must be one of {', '.join(BUCKETS)}")
    joined = _per_day(session, Subscriber.confirmed_at)
    left = _per_day(session, Subscriber.unsubscribed_at)
    end = now.date()
    start = end - timedelta(days=days - 1)
    level = sum(n for d, n in joined.items() if d < start) - sum(
        n for d, n in left.items() if d < start
    )
    series: list[tuple[date, int]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        level += joined.get(day, 0) - left.get(day, 0)
        if by == "day" or day.weekday() == 6 or day == end:
            series.append((day, level))
    return series


def clicks_per_issue(session: Session, *, limit: int = 12) -> list[tuple[str, int]]:
    """(week, total clicks) for the latest issues whose send was started, oldest first."""
    query = (
        select(Issue.week, func.coalesce(func.sum(IssueItem.clicks), 0))
        .join(IssueItem, IssueItem.issue_id == Issue.id, isouter=True)
        .where(Issue.status.in_(IssueStatus.STARTED))
        .group_by(Issue.id, Issue.week)
        .order_by(Issue.week.desc())
        .limit(limit)
    )
    return [(week, int(clicks)) for week, clicks in reversed(list(session.execute(query)))]


def _nice_top(value: int) -> int:
    """A round upper bound for an axis: the first of 1, 2, 5 × 10^n that reaches `value`."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def _frame(title: str, width: int, height: int, body: list[str]) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}" class="chart" preserveAspectRatio="xMidYMid meet">'
        f"<title>{label}</title>" + "".join(body) + "</svg>"
    )


def _y_axis(top: int, left: int, right: int, y0: int, plot_h: int) -> list[str]:
    parts = []
    for fraction in (0, 0.5, 1):
        y = y0 - plot_h * fraction
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{top * fraction:,.0f}</text>'
        )
    return parts


def line_chart(
    points: list[tuple[date, int]], *, title: str, width: int = 640, height: int = 220
) -> str:
    """A line chart of counts over dates, as an SVG element string."""
    if not points:
        return _frame(title, width, 60, [_empty(width)])
    left, right, top_pad, bottom = 48, width - 12, 12, height - 28
    plot_h = bottom - top_pad
    top = _nice_top(max(value for _, value in points))
    step = (right - left) / max(len(points) - 1, 1)
    coords = [
        (left + i * step, bottom - plot_h * value / top) for i, (_, value) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    body = _y_axis(top, left, right, bottom, plot_h)
    body.append(f'<polyline points="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    for index in sorted({0, len(points) // 2, len(points) - 1}):
        x = coords[index][0]
        anchor = "start" if index == 0 else "end" if index == len(points) - 1 else "middle"
        body.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}" font-size="11" '
            f'fill="{MUTED}">{points[index][0].isoformat()}</text>'
        )
    last_x, last_y = coords[-1]
    body.append(f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="{ACCENT}"/>')
    return _frame(title, width, height, body)


def bar_chart(
    bars: list[tuple[str, int]], *, title: str, width: int = 640, height: int = 220
) -> str:
    """A bar chart of labelled counts, as an SVG element string (labels are escaped)."""
    if not bars:
        return _frame(title, width, 60, [_empty(width)])
    left, right, top_pad, bottom = 48, width - 12, 16, height - 28
    plot_h = bottom - top_pad
    top = _nice_top(max(value for _, value in bars))
    slot = (right - left) / len(bars)
    body = _y_axis(top, left, right, bottom, plot_h)
    for index, (label, value) in enumerate(bars):
        bar_h = plot_h * value / top
        x = left + index * slot + slot * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{bottom - bar_h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bar_h:.1f}" fill="{ACCENT}"><title>{escape(label)}: {value:,}</title></rect>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 8}" text-anchor="middle" '
            f'font-size="11" fill="{MUTED}">{escape(label[-3:] if len(bars) > 6 else label)}</text>'
        )
    return _frame(title, width, height, body)


def _empty(width: int) -> str:
    return (
        f'<text x="{width / 2}" y="34" text-anchor="middle" font-size="13" fill="{MUTED}">'
        "No data yet</text>"
    )
