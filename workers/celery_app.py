"""The Celery app and its beat schedule; the broker is Redis in production, SQLite when embedded."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging

from app.config import Settings, get_settings


def schedule_from_cron(expression: str) -> crontab:
    """A Celery crontab from a five-field cron line (minute hour day month weekday, UTC)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"DIGEST_SCHEDULE must have five cron fields, got {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured from `settings`."""
    app = Celery("digest", broker=settings.celery_broker_url, include=["workers.tasks"])
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,  # a task lost with its worker is delivered again...
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # ...and a busy worker does not hoard others' work
        task_default_queue=settings.queue,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        beat_schedule={
            "draft-weekly-issue": {
                "task": "digest.draft_weekly_issue",
                "schedule": schedule_from_cron(settings.schedule),
            },
            "poll-feeds": {
                "task": "digest.poll_feeds",
                "schedule": settings.feed_poll_minutes * 60.0,
            },
            "sweep-sends": {"task": "digest.sweep", "schedule": 60.0},
        },
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
    )
    if settings.embedded_broker:
        # kombu's SQLAlchemy transport hands its options to create_engine: none of Redis' apply.
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {}
        _use_wal(settings.var_dir / "broker.db")
    return app


def _use_wal(path: Path) -> None:
    """Write-ahead logging for the embedded broker's SQLite file (the mode is kept in the file).

    In the default rollback-journal mode every publish rewrites and syncs a journal, and the
    API, the worker and beat block each other's reads while one of them writes."""
    with closing(sqlite3.connect(path, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


@setup_logging.connect
def _use_our_logging(loglevel: Any = "INFO", **_: Any) -> None:
    """Workers and beat log like the API: text, or JSON with DIGEST_LOG_FORMAT=json."""
    from app.logs import configure_logging

    configure_logging(get_settings().log_format, loglevel or "INFO")


celery_app = make_celery(get_settings())
