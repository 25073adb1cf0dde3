"""Every Celery task by name, and the broker that the service hands them to.

The names are the contract between the code that queues a job (through `app.db`, after commit)
and the worker that runs it (`workers.tasks`): both read them here, nowhere else. `broker_app`
is the Celery app with the service's broker settings; the worker adds the tasks and beat the
schedule (`workers.celery_app`), while the API and the CLI only publish through it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from celery import Celery

from app import config

# The send engine (SPEC §9).
START_SEND = "digest.start_send"
QUEUE_BATCHES = "digest.queue_batches"
SEND_BATCH = "digest.send_batch"
SWEEP = "digest.sweep"
# The reader's transactional mail (SPEC §10).
SEND_CONFIRMATIONS = "digest.send_confirmations"
SEND_WELCOME = "digest.send_welcome"
# Posts and the weekly issue (SPEC §7).
POLL_FEEDS = "digest.poll_feeds"
POLL_FEED = "digest.poll_feed"
DRAFT_WEEKLY_ISSUE = "digest.draft_weekly_issue"
# Late bounces and complaints (SPEC §9).
POLL_BOUNCES = "digest.poll_bounces"


class Publisher(Protocol):
    """Hands one task to the broker: its name, its arguments, and a delay in seconds if any."""

    def __call__(
        self, name: str, args: tuple[Any, ...], /, countdown: float | None = None
    ) -> None: ...


def broker_app(settings: config.Settings) -> Celery:
    """A Celery app on the settings' broker and queue, configured as every process needs it."""
    app = Celery("digest", broker=settings.celery_broker_url)
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
    )
    if settings.embedded_broker:
        # kombu's SQLAlchemy transport hands its options to create_engine: none of Redis' apply.
        config.private_folder(settings.var_dir)
        app.conf.broker_transport_options = {}
        # Queued tasks name readers' ids: as private as the database (its -wal follows its mode).
        _use_wal(config.private_file(settings.var_dir / "broker.db"))
    return app


def _use_wal(path: Path) -> None:
    """Write-ahead logging for the embedded broker's SQLite file (the mode is kept in the file).

    In the default rollback-journal mode every publish rewrites and syncs a journal, and the
    API, the worker and beat block each other's reads while one of them writes."""
    with closing(sqlite3.connect(path, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def publisher_for(app: Celery) -> Publisher:
    """A publisher that sends tasks through `app` to its default queue."""

    def publish(name: str, args: tuple[Any, ...], /, countdown: float | None = None) -> None:
        app.send_task(name, args=list(args), countdown=countdown)

    return publish


@cache
def default_publisher() -> Publisher:
    """Publishes through a broker app for the process's settings, made on first use."""
    return publisher_for(broker_app(config.get_settings()))
