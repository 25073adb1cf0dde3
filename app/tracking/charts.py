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
# The SVG scales to its box, and its text with it. Drawn 360 units wide with 13-unit text, a chart
# in a phone's 315 px card (375 px screen) still has text of 11 px or more; wider boxes only grow
# it (the stylesheet caps the chart's width). A 640-wide drawing had 5 px labels on a phone.
WIDTH, HEIGHT, FONT = 360, 200, 13
LABEL_CHARS_WIDTH = 0.6 * FONT  # an average label character, in drawing units
MAX_BAR = 36  # a bar's widest: one or two issues make bars, not blocks


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


def _text(x: float, y: float, words: str, anchor: str = "middle", size: int = FONT) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{MUTED}">{escape(words)}</text>'
    )


def _y_axis(top: int, left: int, right: int, y0: int, plot_h: int) -> list[str]:
    parts = []
    for fraction in (0, 0.5, 1):
        y = y0 - plot_h * fraction
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>'
            + _text(left - 5, y + 4, f"{top * fraction:,.0f}", "end")
        )
    return parts


def day_label(day: date, *, year: bool = False) -> str:
    """A date on an axis: '30 Nov' ('30 Nov 2026' where the year is needed)."""
    return f"{day.day} {day:%b}" + (f" {day.year}" if year else "")


def _left_margin(top: int) -> int:
    return int(len(f"{top:,}") * LABEL_CHARS_WIDTH) + 10


def line_chart(
    points: list[tuple[date, int]], *, title: str, width: int = WIDTH, height: int = HEIGHT
) -> str:
    """A line chart of counts over dates, as an SVG element string."""
    if not points:
        return _frame(title, width, 60, [_empty(width)])
    top = _nice_top(max(value for _, value in points))
    left, right, top_pad, bottom = _left_margin(top), width - 10, 12, height - 26
    plot_h = bottom - top_pad
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
        body.append(_text(x, height - 7, day_label(points[index][0], year=index == 0), anchor))
    last_x, last_y = coords[-1]
    body.append(f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="{ACCENT}"/>')
    return _frame(title, width, height, body)


def bar_chart(
    bars: list[tuple[str, int]], *, title: str, width: int = WIDTH, height: int = HEIGHT
) -> str:
    """A bar chart of labelled counts, as an SVG element string (labels are escaped).

    Every bar keeps its label as a tooltip; under the axis only as many labels are written as
    fit side by side, evenly spread, the newest (rightmost) always among them.
    """
    if not bars:
        return _frame(title, width, 60, [_empty(width)])
    top = _nice_top(max(value for _, value in bars))
    left, right, top_pad, bottom = _left_margin(top), width - 10, 16, height - 26
    plot_h = bottom - top_pad
    slot = (right - left) / len(bars)
    widest = max(len(label) for label, _ in bars) * LABEL_CHARS_WIDTH + 6
    every = max(1, -(-int(widest) // max(int(slot), 1)))
    body = _y_axis(top, left, right, bottom, plot_h)
    for index, (label, value) in enumerate(bars):
        bar_h, bar_w = plot_h * value / top, min(slot * 0.7, MAX_BAR)
        middle = left + (index + 0.5) * slot
        body.append(
            f'<rect x="{middle - bar_w / 2:.1f}" y="{bottom - bar_h:.1f}" width="{bar_w:.1f}" '
            f'height="{bar_h:.1f}" fill="{ACCENT}"><title>{escape(label)}: {value:,}</title></rect>'
        )
        if (len(bars) - 1 - index) % every == 0:
            body.append(_text(middle, height - 7, label))
    return _frame(title, width, height, body)


def _empty(width: int) -> str:
    return _text(width / 2, 34, "No data yet")
