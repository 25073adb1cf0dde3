"""`digest send`: ask, then start an issue's send and watch it; or say what it would do.

Sending mails every reader and cannot be taken back, so the command asks first ("Send issue 2
(2026-W49, 10 posts) to 3,014 readers? [y/N]"). A script passes `--yes`; without it and with
no terminal to ask on, the command refuses rather than guess. Every refusal is one line on
stderr and a non-zero exit, as the other commands report errors.
"""

from __future__ import annotations

import click
from sqlalchemy.exc import DBAPIError

from app.cli.settings import display_url, load_settings
from app.config import Settings
from app.db import session_scope
from app.delivery.console import send_with_progress
from app.delivery.plan import SendPlan, plan_send
from app.errors import DigestError


@click.command()
@click.argument("issue_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Send without asking (for scripts).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be sent, from whom, to how many readers; change nothing.",
)
@click.option("--timeout", type=float, default=None, help="Stop watching after this many seconds.")
def send(issue_id: int, yes: bool, dry_run: bool, timeout: float | None) -> None:
    """Send an issue (or watch a running send) with a progress bar; the workers deliver."""
    settings = load_settings()
    try:
        with session_scope(settings.sqlalchemy_url) as session:
            plan = plan_send(session, issue_id=issue_id, settings=settings)
        if dry_run:
            _print_dry_run(plan, settings)
            return
        if plan.running:
            click.echo(f"Issue {issue_id} is already sending: watching it.")
        elif not yes:
            _ask(plan)
        send_with_progress(issue_id, settings=settings, timeout=timeout)
    except DigestError as error:
        raise click.ClickException(str(error)) from error
    except DBAPIError as error:
        raise click.ClickException(_database_problem(settings, error)) from error


def _ask(plan: SendPlan) -> None:
    """Go on only on a "y" typed at a terminal; anything else ends the command, non-zero."""
    if not click.get_text_stream("stdin").isatty():
        raise click.ClickException(
            f"not sending issue {plan.issue_id} to {plan.readers:,} readers without asking, "
            "and there is no terminal to ask on: pass --yes to send"
        )
    try:
        answer = click.confirm(plan.question(), default=False)
    except click.Abort:  # end of input or Ctrl-C: no answer is not a yes
        answer = False
        click.echo(err=True)
    if not answer:
        click.echo("Not sent.", err=True)
        raise click.exceptions.Exit(1)


def _print_dry_run(plan: SendPlan, settings: Settings) -> None:
    if plan.running:
        click.echo(
            f"Dry run: issue {plan.issue_id} is already sending to {plan.readers:,} readers; "
            f"`digest send {plan.issue_id}` would watch it. Nothing changed."
        )
        return
    click.echo(f"Dry run: `digest send {plan.issue_id}` would send")
    for line in plan.description():
        click.echo(f"  {line}")
    if settings.smtp_url:
        click.echo(f"  through  {display_url(settings.smtp_url)}")
    else:
        click.echo(f"  into     {settings.outbox_dir.resolve()}/ (no DIGEST_SMTP_URL)")
    click.echo("Nothing was sent or changed.")


def _database_problem(settings: Settings, error: DBAPIError) -> str:
    """The driver's first line (psycopg's go on with hints), and where the database is."""
    reason = str(error.orig or error).strip().splitlines()[0]
    return f"the database {display_url(settings.sqlalchemy_url)} cannot be used: {reason}"
