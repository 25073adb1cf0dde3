"""`digest send`: start or watch an issue's send."""

from __future__ import annotations

import click

from app.cli.settings import load_settings
from app.delivery.console import send_with_progress
from app.errors import DigestError


@click.command()
@click.argument("issue_id", type=int)
@click.option("--timeout", type=float, default=None, help="Stop watching after this many seconds.")
def send(issue_id: int, timeout: float | None) -> None:
    """Send an issue (or watch a running send) with a progress bar; the workers deliver."""
    settings = load_settings()
    try:
        send_with_progress(issue_id, settings=settings, timeout=timeout)
    except DigestError as error:
        raise click.ClickException(str(error)) from error
