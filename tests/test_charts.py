"""Subscriber and click series for the history page, and their SVG."""

from __future__ import annotations

from datetime import date, timedelta
from xml.etree import ElementTree

from app.models import Subscriber
from app.tracking.charts import bar_chart, line_chart, subscriber_series
from tests.test_issues import NOW


def add_reader(db, n: int, confirmed_days_ago: int | None, left_days_ago: int | None) -> None:
    confirmed = NOW - timedelta(days=confirmed_days_ago) if confirmed_days_ago is not None else None
    left = NOW - timedelta(days=left_days_ago) if left_days_ago is not None else None
    db.add(
        Subscriber(
            email=f"c{n}@example.org",
            status="unsubscribed" if left else "confirmed",
            source="t",
            created_at=NOW - timedelta(days=40),
            updated_at=NOW,
            confirmed_at=confirmed,
            unsubscribed_at=left,
            confirm_nonce=0,
        )
    )


def test_subscriber_series_counts_joins_and_leaves_by_day_and_week(db):
    add_reader(db, 1, 30, None)  # before the window: the starting level
    add_reader(db, 2, 5, None)
    add_reader(db, 3, 5, 2)
    add_reader(db, 4, None, None)  # never confirmed: not a reader
    db.flush()
    days = dict(subscriber_series(db, now=NOW, days=10))
    today = NOW.date()
    assert days[today - timedelta(days=9)] == 1
    assert days[today - timedelta(days=5)] == 3
    assert days[today - timedelta(days=2)] == 2 and days[today] == 2
    weeks = subscriber_series(db, now=NOW, days=14, by="week")
    assert all(d.weekday() == 6 or d == today for d, _ in weeks) and weeks[-1] == (today, 2)


def test_charts_are_valid_svg_with_escaped_labels():
    bars = bar_chart([("<b>&", 3), ("W48", 0)], title="Clicks <per> issue")
    tree = ElementTree.fromstring(bars)  # well-formed: the labels were escaped
    assert tree.find("{http://www.w3.org/2000/svg}title").text == "Clicks <per> issue"
    assert len(tree.findall("{http://www.w3.org/2000/svg}rect")) == 2
    line = line_chart([(date(2026, 11, d), d) for d in range(1, 11)], title="Readers")
    polyline = ElementTree.fromstring(line).find("{http://www.w3.org/2000/svg}polyline")
    assert len(polyline.get("points").split()) == 10
    assert "No data yet" in line_chart([], title="empty")


PHONE_BOX = 315  # px: a chart's card on a 375 px screen (page and card padding taken off)
SVG = "{http://www.w3.org/2000/svg}"


def test_chart_text_stays_readable_on_a_phone_and_labels_do_not_collide():
    weeks = [(f"{day} Nov", day * 3) for day in range(1, 13)]
    line = line_chart([(date(2026, 9, 1) + timedelta(days=d), d) for d in range(90)], title="R")
    for svg in (bar_chart(weeks, title="Clicks"), line):
        tree = ElementTree.fromstring(svg)
        width = float(tree.get("viewBox").split()[2])
        sizes = [float(text.get("font-size")) for text in tree.iter(f"{SVG}text")]
        assert sizes and min(sizes) * PHONE_BOX / width >= 11, (width, sizes)
    labels = [
        (float(t.get("x")), t.text)
        for t in ElementTree.fromstring(bar_chart(weeks, title="Clicks")).iter(f"{SVG}text")
        if "Nov" in (t.text or "")
    ]
    assert labels[-1][1] == "12 Nov"  # the newest bar is always named
    gaps = [b[0] - a[0] for a, b in zip(labels, labels[1:], strict=False)]
    assert min(gaps) >= 6 * 13 * 0.6  # six characters of 13-unit text fit between labels
    dates = [t.text for t in ElementTree.fromstring(line).iter(f"{SVG}text")][-3:]
    assert dates == ["1 Sep 2026", "16 Oct", "29 Nov"]
