"""`digest serve` (embedded: the web app with a Celery worker and beat) and `digest api`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import click
import uvicorn

from app.cli.settings import display_url, load_settings
from app.config import SERVED_URL_FILE, Settings
from app.demo import load_demo
from app.logs import configure_logging
from app.migrate import upgrade
from app.web import create_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--demo", is_flag=True, help="Load sample posts, readers and a draft issue.")
def serve(host: str, port: int, demo: bool) -> None:
    """Embedded mode: migrate, then run the API, a Celery worker and Celery beat together."""
    settings = load_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if "base_url" not in settings.model_fields_set:
        # Links in mail must reach this server: follow --host/--port unless told otherwise.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        (settings.var_dir / SERVED_URL_FILE).write_text(f"http://{shown_host}:{port}\n")
    settings.signing_keys()  # create the embedded secret before the children read it
    upgrade(settings.sqlalchemy_url)
    if demo:
        for line in load_demo(settings):
            click.echo(line)
    # uvicorn re-raises SIGTERM once it has shut down; make that an exception so the
    # `finally` below still stops the worker and beat instead of the process just dying.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    children = _start_children(settings)
    click.echo(f"Weekly Digest on http://{host}:{port}/  (admin: http://{host}:{port}/admin)")
    click.echo(f"database {display_url(settings.sqlalchemy_url)}")
    if not settings.smtp_url:
        click.echo(f"no DIGEST_SMTP_URL: mail is written to {settings.outbox_dir.resolve()}/")
    try:
        _run_api(settings, host, port)
    finally:
        _stop_children(children)


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _start_children(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """Start one Celery worker and Celery beat; if either dies, the whole service stops."""
    celery = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
    commands = [
        [
            *celery,
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            settings.queue,
            "-n",
            "embedded@%h",
        ],
        [
            *celery,
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(settings.var_dir / "celerybeat-schedule"),
        ],
    ]
    children = [subprocess.Popen(command) for command in commands]
    for child in children:
        threading.Thread(target=_watch_child, args=(child,), daemon=True).start()
    return children


def _watch_child(child: subprocess.Popen[bytes]) -> None:
    code = child.wait()
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        click.echo(
            f"a background process ({' '.join(child.args[3:5])}) exited with {code}; stopping",
            err=True,
        )
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """Production: the web app and API (PostgreSQL, Redis)."""
    settings = load_settings(production=True)
    _run_api(settings, host, port)


def _run_api(settings: Settings, host: str, port: int) -> None:
    configure_logging(settings.log_format)
    uvicorn.run(
        create_app(settings),
        log_config=None,  # uvicorn's records go through our handler (text or JSON)
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )
