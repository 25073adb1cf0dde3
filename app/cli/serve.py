"""`digest serve` (embedded: the web app with a Celery worker and beat) and `digest api`."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import click
import uvicorn

from app.cli.settings import display_url, load_settings
from app.config import SERVED_URL_FILE, Settings
from app.demo import load_demo
from app.logs import configure_logging
from app.migrate import upgrade
from app.web import create_app

# Where `serve --demo` keeps its login notice (var/demo-admin.txt is the password itself,
# which `ensure_demo_admin` reads back at every start).
DEMO_LOGIN_FILE = "demo-login.txt"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--demo", is_flag=True, help="Load sample posts, readers and a draft issue.")
@click.option("--verbose", is_flag=True, help="Show the worker's and beat's banners and task logs.")
def serve(host: str, port: int, demo: bool, verbose: bool) -> None:
    """Embedded mode: migrate, then run the API, a Celery worker and Celery beat together."""
    settings = load_settings()
    # Before anything starts or is written: a busy port is one line, not a failure found
    # after the worker and beat have started and printed their own output over it.
    problem = _cannot_listen(host, port)
    if problem:
        raise click.ClickException(problem)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{port}"
    if "base_url" not in settings.model_fields_set:
        # Links in mail must reach this server: follow --host/--port unless told otherwise.
        (settings.var_dir / SERVED_URL_FILE).write_text(f"{url}\n")
    settings.signing_keys()  # create the embedded secret before the children read it
    upgrade(settings.sqlalchemy_url)
    login = None
    if demo:
        lines, login = load_demo(settings)
        for line in lines:
            click.echo(line)
    # uvicorn re-raises SIGTERM once it has shut down; make that an exception so the
    # `finally` below still stops the worker and beat instead of the process just dying.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    children = _start_children(settings, verbose=verbose)
    click.echo(f"Weekly Digest on {url}/  (admin: {url}/admin)")
    click.echo(f"database {display_url(settings.sqlalchemy_url)}")
    if not settings.smtp_url:
        click.echo(f"no DIGEST_SMTP_URL: mail is written to {settings.outbox_dir.resolve()}/")

    def announce() -> None:
        if all(child.process.poll() is None for child in children):
            click.echo(_ready_notice(url, login, settings.var_dir))

    try:
        _wait_until_started(children)
        _run_api(settings, host, port, on_started=announce)
    finally:
        _stop_children(children)


def _ready_notice(url: str, login: tuple[str, str] | None, var_dir: Path) -> str:
    """The framed "Open … — log in as …" block, printed last; the demo's is kept in var/ too."""
    if login is None:
        lines = [
            f"Open {url}/admin — make a login with `digest admin create EMAIL`",
            f"Readers subscribe at {url}/ · Ctrl-C stops everything",
        ]
    else:
        kept = var_dir / DEMO_LOGIN_FILE
        lines = [
            f"Open {url}/admin — log in as {login[0]} / {login[1]}",
            f"(this login is kept in {kept}) · Ctrl-C stops everything",
        ]
    width = max(len(line) for line in lines)
    notice = "\n".join(
        [
            f"╭{'─' * (width + 4)}╮",
            *(f"│  {line:<{width}}  │" for line in lines),
            f"╰{'─' * (width + 4)}╯",
        ]
    )
    if login is not None:
        # It holds a password: readable by its owner only, from the moment it exists.
        kept.unlink(missing_ok=True)
        descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(notice + "\n")
    return notice


def _cannot_listen(host: str, port: int) -> str | None:
    """Why this server could not listen on host:port, found by binding it once, or None."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        return f"cannot listen on {host}:{port}: {error.strerror}"
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by the last run is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is taken (address already in use): stop what "
                    f"uses it or choose another port with --port (make run PORT=…)"
                )
            return f"cannot listen on {host}:{port}: {error.strerror}"
    return None


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


class _Child(NamedTuple):
    """A Celery process `serve` started, and the pid file it writes once it has started."""

    name: str
    process: subprocess.Popen[bytes]
    pidfile: Path


def _start_children(settings: Settings, *, verbose: bool) -> list[_Child]:
    """Start one Celery worker and Celery beat; if either dies, the whole service stops.

    Quiet unless `verbose`: no banners, warnings and errors only, so what `serve` prints
    (the address, the demo login) is not buried under a hundred lines of task logs."""
    celery = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
    if not verbose:
        celery.append("--quiet")
    level = "--loglevel=INFO" if verbose else "--loglevel=WARNING"
    commands = {
        "worker": [
            *celery,
            "worker",
            "--pool=threads",
            "--concurrency=2",
            level,
            "--without-gossip",
            "--without-mingle",
            "-Q",
            settings.queue,
            "-n",
            "embedded@%h",
        ],
        "beat": [
            *celery,
            "beat",
            level,
            "--schedule",
            str(settings.var_dir / "celerybeat-schedule"),
        ],
    }
    children = []
    for name, command in commands.items():
        # Written after the process's own start-up warnings: `_wait_until_started` waits for
        # it so that the login notice comes after them. A stale one would be taken for it.
        pidfile = settings.var_dir / f"celery-{name}.pid"
        pidfile.unlink(missing_ok=True)
        process = subprocess.Popen([*command, f"--pidfile={pidfile}"])
        children.append(_Child(f"celery {name}", process, pidfile))
    for child in children:
        threading.Thread(target=_watch_child, args=(child,), daemon=True).start()
    return children


def _wait_until_started(children: list[_Child], timeout: float = 60) -> None:
    """Until every child has written its pid file, one has exited (its watcher then stops
    the service) or `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.process.poll() is not None for child in children):
            return
        if all(child.pidfile.exists() for child in children):
            return
        time.sleep(0.1)


def _watch_child(child: _Child) -> None:
    code = child.process.wait()
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        click.echo(f"a background process ({child.name}) exited with {code}; stopping", err=True)
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_children(children: list[_Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """Production: the web app and API (PostgreSQL, Redis)."""
    settings = load_settings(production=True)
    _run_api(settings, host, port)


class _Server(uvicorn.Server):
    """uvicorn's server, calling `on_started` once it listens (after "Uvicorn running on")."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit and self.on_started is not None:
            self.on_started()


def _run_api(
    settings: Settings, host: str, port: int, on_started: Callable[[], None] | None = None
) -> None:
    configure_logging(settings.log_format)
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,  # uvicorn's records go through our handler (text or JSON)
        host=host,
        port=port,
        log_level="info",
        # uvicorn would otherwise take the client address from X-Forwarded-For of any peer in
        # FORWARDED_ALLOW_IPS (127.0.0.1 by default), so every local caller could pick its own.
        # The app reads the header itself, only from DIGEST_TRUSTED_PROXIES (app/web/forwarded.py).
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, on_started)
    server.run()
    if not server.started:  # it could not bind or start the app; uvicorn has said why
        raise SystemExit(3)
