"""app.jobs and workers.celery_app: one registry of task names; no Celery app built on import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from app import jobs
from app.config import Settings
from workers import tasks
from workers.celery_app import make_celery

ROOT = Path(__file__).resolve().parent.parent

# The names on the wire: queued messages and running workers of an older version use them.
WIRE_NAMES = {
    "digest.start_send",
    "digest.queue_batches",
    "digest.send_batch",
    "digest.sweep",
    "digest.send_confirmations",
    "digest.send_welcome",
    "digest.poll_feeds",
    "digest.poll_feed",
    "digest.draft_weekly_issue",
    "digest.poll_bounces",
}


def test_every_job_is_a_task_and_every_task_a_job(tmp_path: Path) -> None:
    assert tasks.__name__ == "workers.tasks"  # imported: its shared tasks join every app
    app = make_celery(Settings(var_dir=tmp_path))
    registry = {value for name, value in vars(jobs).items() if name.isupper()}
    registered = {name for name in app.tasks if name.startswith("digest.")}
    assert registry == registered == WIRE_NAMES
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} == {
        jobs.DRAFT_WEEKLY_ISSUE,
        jobs.POLL_FEEDS,
        jobs.SWEEP,
    }


def test_importing_the_worker_builds_nothing_until_celery_asks_for_the_app(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from celery import _state
        import workers.celery_app, workers.tasks, app.db

        broker = Path(os.environ["DIGEST_VAR_DIR"]) / "broker.db"
        assert not list(_state._get_active_apps()), "a Celery app was built on import"
        assert not broker.exists(), "the embedded broker was touched on import"
        assert app.db._publisher is None

        from workers.celery_app import app as celery_app  # what `celery -A` looks up
        assert celery_app is workers.celery_app.process_app()
        assert broker.exists() and celery_app.conf.task_default_queue == "digest"
        assert app.db._publisher is not None  # its tasks queue through the same app
        print("ok")
        """
    )
    env = {"DIGEST_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
