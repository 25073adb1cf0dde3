"""The Celery app of the worker and beat: the broker app, its tasks and the beat schedule.

Nothing is built on import. `celery -A workers.celery_app worker|beat|inspect` asks this module
for `app`, which is made then, once per process, from the settings (`process_app`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging

from app import jobs
from app.config import Settings, get_settings
from app.db import set_publisher
from app.logs import configure_logging


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
    """A Celery app configured from `settings`, with the tasks and the beat schedule."""
    app = jobs.broker_app(settings)
    app.conf.include = ["workers.tasks"]  # the worker imports them; they are shared tasks
    app.conf.beat_schedule = {
        "draft-weekly-issue": {
            "task": jobs.DRAFT_WEEKLY_ISSUE,
            "schedule": schedule_from_cron(settings.schedule),
        },
        "poll-feeds": {"task": jobs.POLL_FEEDS, "schedule": settings.feed_poll_minutes * 60.0},
        "sweep-sends": {"task": jobs.SWEEP, "schedule": 60.0},
    }
    if settings.bounce_mailbox:
        app.conf.beat_schedule["poll-bounces"] = {
            "task": jobs.POLL_BOUNCES,
            "schedule": settings.bounce_poll_minutes * 60.0,
        }
    app.conf.beat_schedule_filename = str(settings.var_dir / "celerybeat-schedule")
    return app


@cache
def process_app() -> Celery:
    """This process's Celery app, made on first use; what its tasks queue goes through it too."""
    app = make_celery(get_settings())
    set_publisher(jobs.publisher_for(app))
    return app


def __getattr__(name: str) -> Any:
    """`app` (where `celery -A workers.celery_app` looks) is made on first access (PEP 562)."""
    if name == "app":
        return process_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@setup_logging.connect
def _use_our_logging(loglevel: Any = "INFO", **_: Any) -> None:
    """Workers and beat log like the API: text, or JSON with DIGEST_LOG_FORMAT=json."""
    configure_logging(get_settings().log_format, loglevel or "INFO")
