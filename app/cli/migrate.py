"""`digest migrate`: bring the database schema up to date."""

from __future__ import annotations

import click

from app.cli.settings import display_url, load_settings
from app.migrate import upgrade


@click.command()
def migrate() -> None:
    """Apply the database migrations (alembic upgrade head)."""
    settings = load_settings()
    upgrade(settings.sqlalchemy_url)
    click.echo(f"database is up to date: {display_url(settings.sqlalchemy_url)}")
