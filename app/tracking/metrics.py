"""Prometheus metrics, read from the database on each scrape into a registry of their own.

Every figure comes from the database, not from process memory, so one scrape of any API process
sees the whole fleet (all workers on all machines) and nothing resets when a process restarts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Delivery, DeliveryState, Feed, Issue, IssueStatus
from app.readers.counts import readers_by_status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RATE_WINDOWS = {"1m": 60, "5m": 300}


def _by(session: Session, column: object, names: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    for name, number in session.execute(select(column, func.count()).group_by(column)):
        counts[str(name)] = number
    return counts


def _latest_mailed(session: Session) -> Issue | None:
    """The issue most recently sent or being sent: the one an operator watches."""
    query = (
        select(Issue)
        .where(Issue.status.in_((IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)))
        .order_by(Issue.send_started_at.desc().nulls_last(), Issue.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _gauge(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(name, doc, labels, registry=registry)


def build_registry(session: Session, *, now: datetime) -> CollectorRegistry:
    """A registry holding this moment's figures (read-only queries)."""
    registry = CollectorRegistry(auto_describe=True)
    readers = _gauge(registry, "digest_subscribers", "Readers by status.", ("status",))
    for status, number in readers_by_status(session).items():
        readers.labels(status).set(number)
    issues = _gauge(registry, "digest_issues", "Issues by status.", ("status",))
    for status, number in _by(session, Issue.status, IssueStatus.ALL).items():
        issues.labels(status).set(number)
    deliveries = _gauge(
        registry, "digest_deliveries", "Ledger rows of all issues by state.", ("state",)
    )
    by_state = _by(session, Delivery.state, DeliveryState.ALL)
    for state, number in by_state.items():
        deliveries.labels(state).set(number)
    _latest_issue(registry, session)
    _send_rate(registry, session, now)
    failures = _gauge(
        registry, "digest_delivery_failures", "Deliveries that ended failed or unknown.", ("state",)
    )
    for state in (DeliveryState.FAILED, DeliveryState.UNKNOWN):
        failures.labels(state).set(by_state[state])
    broken = session.scalar(select(func.count()).where(Feed.error_count > 0)) or 0
    _gauge(registry, "digest_feeds_failing", "Feeds whose last poll failed.").set(broken)
    return registry


def _latest_issue(registry: CollectorRegistry, session: Session) -> None:
    gauge = _gauge(
        registry,
        "digest_issue_deliveries",
        "Ledger rows of the latest sending or sent issue by state.",
        ("issue", "week", "state"),
    )
    issue = _latest_mailed(session)
    if issue is None:
        return
    query = (
        select(Delivery.state, func.count())
        .where(Delivery.issue_id == issue.id)
        .group_by(Delivery.state)
    )
    counts = dict.fromkeys(DeliveryState.ALL, 0) | dict(session.execute(query).tuples().all())
    for state, number in counts.items():
        gauge.labels(str(issue.id), issue.week, state).set(number)


def _send_rate(registry: CollectorRegistry, session: Session, now: datetime) -> None:
    sent = _gauge(registry, "digest_sent_recent", "Messages sent within the window.", ("window",))
    rate = _gauge(
        registry, "digest_send_rate_per_second", "Messages per second over the window.", ("window",)
    )
    for window, seconds in RATE_WINDOWS.items():
        since = now - timedelta(seconds=seconds)
        number = (
            session.scalar(
                select(func.count()).where(
                    Delivery.state == DeliveryState.SENT, Delivery.sent_at >= since
                )
            )
            or 0
        )
        sent.labels(window).set(number)
        rate.labels(window).set(round(number / seconds, 3))


def render_metrics(session: Session, *, now: datetime) -> bytes:
    """The Prometheus text exposition of this moment's figures."""
    return generate_latest(build_registry(session, now=now))
