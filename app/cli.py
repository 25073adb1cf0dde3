"""The `digest` command: embedded `serve`, the production processes, and editor tools."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
from pydantic import ValidationError

from app.config import SERVED_URL_FILE, ConfigurationError, Settings, get_settings


def _settings(production: bool = False) -> Settings:
    try:
        settings = get_settings()
    except ValidationError as error:
        problems = "\n".join(
            f"- DIGEST_{'_'.join(map(str, e['loc'])).upper()}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise click.ClickException(f"invalid settings:\n{problems}") from error
    if production:
        try:
            settings.check_production()
        except ConfigurationError as error:
            raise click.ClickException(str(error)) from error
        for warning in settings.production_warnings():
            click.echo(f"warning: {warning}", err=True)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Weekly Digest: a self-hosted weekly top-10 newsletter."""


@main.command()
def migrate() -> None:
    """Apply the database migrations (alembic upgrade head)."""
    from app.migrate import upgrade

    settings = _settings()
    upgrade(settings.sqlalchemy_url)
    click.echo(f"database is up to date: {_display_url(settings.sqlalchemy_url)}")


def _display_url(url: str) -> str:
    """A database or broker URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - it is only for display
        return url.split("@")[-1]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--demo", is_flag=True, help="Load sample posts, readers and a draft issue.")
def serve(host: str, port: int, demo: bool) -> None:
    """Embedded mode: migrate, then run the API, a Celery worker and Celery beat together."""
    from app.migrate import upgrade

    settings = _settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if "base_url" not in settings.model_fields_set:
        # Links in mail must reach this server: follow --host/--port unless told otherwise.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        (settings.var_dir / SERVED_URL_FILE).write_text(f"http://{shown_host}:{port}\n")
    settings.signing_keys()  # create the embedded secret before the children read it
    upgrade(settings.sqlalchemy_url)
    if demo:
        from app.demo import load_demo

        for line in load_demo(settings):
            click.echo(line)
    # uvicorn re-raises SIGTERM once it has shut down; make that an exception so the
    # `finally` below still stops the worker and beat instead of the process just dying.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    children = _start_children(settings)
    click.echo(f"Weekly Digest on http://{host}:{port}/  (admin: http://{host}:{port}/admin)")
    click.echo(f"database {_display_url(settings.sqlalchemy_url)}")
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


def _run_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app.logs import configure_logging
    from app.web import create_app

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


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """Production: the web app and API (PostgreSQL, Redis)."""
    settings = _settings(production=True)
    _run_api(settings, host, port)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Production: a Celery worker (extra arguments go to celery, e.g. --concurrency 4)."""
    settings = _settings(production=True)
    from workers.celery_app import process_app

    process_app().worker_main(["worker", "--loglevel=INFO", "-Q", settings.queue, *celery_args])


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(celery_args: tuple[str, ...]) -> None:
    """Production: Celery beat, the scheduler (run exactly one)."""
    settings = _settings(production=True)
    from workers.celery_app import process_app

    schedule = str(settings.var_dir / "celerybeat-schedule")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    process_app().start(["beat", "--loglevel=INFO", "--schedule", schedule, *celery_args])


@main.command()
@click.argument("source")
def ingest(source: str) -> None:
    """Read posts from an RSS/Atom feed URL or file, or a JSON file of posts (SPEC §7)."""
    from app import clock
    from app.db import session_scope
    from app.posts.feeds import IngestError
    from app.posts.feeds import ingest as ingest_source

    settings = _settings()
    try:
        with session_scope() as session:
            result = ingest_source(source, session=session, settings=settings, now=clock.now())
    except IngestError as error:
        raise click.ClickException(str(error)) from error
    counts = ", ".join(
        f"{key} {_flat(value)}" for key, value in result.items() if key not in ("source", "kind")
    )
    click.echo(f"{result.get('source', source)}: {counts}")


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items()) + ")"
    return str(value)


@main.command()
@click.option("--week", default=None, help="ISO week like 2026-W48 (default: the last complete).")
def rank(week: str | None) -> None:
    """Print the ranked top 10 of a week with scores and reasons; changes nothing."""
    from app import clock
    from app.db import session_scope
    from app.ranking.report import format_ranking_table, rank_week
    from app.weeks import last_complete_week, parse_week

    settings = _settings()
    now = clock.now()
    week = week or last_complete_week(now)
    try:
        parse_week(week)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--week") from error
    with session_scope() as session:
        ranking, posts = rank_week(session, week=week, now=now, settings=settings)
        click.echo(format_ranking_table(ranking, posts), nl=False)
        session.rollback()  # ranking is read-only: make sure nothing is written


@main.command()
@click.argument("issue_id", type=int)
@click.option("--timeout", type=float, default=None, help="Stop watching after this many seconds.")
def send(issue_id: int, timeout: float | None) -> None:
    """Send an issue (or watch a running send) with a progress bar; the workers deliver."""
    from app.delivery.console import send_with_progress
    from app.errors import DigestError

    settings = _settings()
    try:
        send_with_progress(issue_id, settings=settings, timeout=timeout)
    except DigestError as error:
        raise click.ClickException(str(error)) from error


@main.group()
def admin() -> None:
    """Admin accounts for the web UI."""


@admin.command("create")
@click.argument("email")
def admin_create(email: str) -> None:
    """Create an admin (or reset their password): asked at a prompt, or read from stdin."""
    from app.accounts import AccountError, create_admin_command

    _settings()
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        click.echo(create_admin_command(email, password))
    except AccountError as error:
        raise click.ClickException(str(error)) from error


@main.group()
def subscribers() -> None:
    """Import and export readers."""


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--consent-source",
    required=True,
    help="Where these readers gave consent, recorded with each of them.",
)
def import_command(csv_file: Path, consent_source: str) -> None:
    """Import readers from a CSV with an `email` column (and `name`) as confirmed."""
    from app import clock
    from app.db import session_scope
    from app.readers.files import BadCSV, parse_subscriber_csv
    from app.readers.importing import import_subscribers

    _settings()
    try:
        rows = parse_subscriber_csv(csv_file.read_bytes())
    except BadCSV as error:
        raise click.ClickException(f"{csv_file}: {error}") from error
    with session_scope() as session:
        report = import_subscribers(
            session, rows=rows, consent_source=consent_source, now=clock.now()
        )
    click.echo(
        f"created {report.created}, confirmed {report.confirmed_existing}, "
        f"unchanged {report.unchanged}, bad rows {len(report.errors)}"
    )
    for error in report.errors:
        click.echo(f"  line {error['line']}: {error['email']!r}: {error['reason']}", err=True)


@subscribers.command("export")
@click.option("--status", default=None, help="Only readers with this status.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def export_command(status: str | None, output: click.utils.LazyFile) -> None:
    """Write readers as CSV (to stdout by default)."""
    from sqlalchemy import select

    from app.db import session_scope
    from app.models import Subscriber, SubscriberStatus
    from app.readers.files import export_subscriber_csv

    _settings()
    if status is not None and status not in SubscriberStatus.ALL:
        raise click.BadParameter(f"one of {', '.join(SubscriberStatus.ALL)}", param_hint="--status")
    with session_scope() as session:
        query = select(Subscriber).order_by(Subscriber.id)
        if status:
            query = query.where(Subscriber.status == status)
        for chunk in export_subscriber_csv(session.scalars(query)):
            output.write(chunk)


@main.group()
def sources() -> None:
    """Per-source weights and what readers' clicks say about each source."""


@sources.command("list")
@click.option(
    "--weeks",
    default=4,
    show_default=True,
    type=click.IntRange(1, 52),
    help="Count the posts of this many recent weeks.",
)
def sources_list(weeks: int) -> None:
    """Sources with their recent posts, weight and readers' click prior."""
    from app import clock
    from app.db import session_scope
    from app.ranking.sources import CLICK_WEEKS, source_table

    _settings()
    with session_scope() as session:
        rows = source_table(session, weeks=weeks, now=clock.now())
    click.echo(f"{'posts':>6}  {'weight':>6}  {'clicks':>6}  {'prior':>5}  source")
    for row in rows:
        prior = "—" if row.click_prior is None else f"{row.click_prior:.2f}"
        weight = f"{row.weight:g}" + ("" if row.weight_set else "*")
        click.echo(f"{row.posts:>6}  {weight:>6}  {row.clicks:>6}  {prior:>5}  {row.name}")
    click.echo(
        f"* default weight; posts of the last {weeks} weeks; clicks and prior from the "
        f"issues mailed in the last {CLICK_WEEKS} weeks"
    )


@sources.command("set")
@click.argument("source")
@click.argument("weight", type=float)
def sources_set(source: str, weight: float) -> None:
    """Set how much a source's stories count: 0 (listed only if pinned) to 10; 1 is the default."""
    from app import clock
    from app.db import session_scope
    from app.ranking.sources import InvalidSourceWeight, set_source_weight

    _settings()
    with session_scope() as session:
        try:
            row = set_source_weight(session, source=source, weight=weight, now=clock.now())
        except InvalidSourceWeight as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"{row.name}: weight {row.weight:g}")


if __name__ == "__main__":
    main()
