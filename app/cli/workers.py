"""`digest worker` and `digest beat`: the Celery processes, without the web app or the ranking."""

from __future__ import annotations

import click

from app.cli.settings import load_settings
from workers.celery_app import process_app


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Production: a Celery worker (extra arguments go to celery, e.g. --concurrency 4)."""
    settings = load_settings(production=True)
    process_app().worker_main(["worker", "--loglevel=INFO", "-Q", settings.queue, *celery_args])


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(celery_args: tuple[str, ...]) -> None:
    """Production: Celery beat, the scheduler (run exactly one)."""
    settings = load_settings(production=True)
    schedule = str(settings.var_dir / "celerybeat-schedule")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    process_app().start(["beat", "--loglevel=INFO", "--schedule", schedule, *celery_args])
