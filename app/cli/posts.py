"""`digest ingest`: posts from a feed or a JSON file."""

from __future__ import annotations

import click

from app import clock
from app.cli.settings import load_settings
from app.db import session_scope
from app.posts.feeds import IngestError
from app.posts.feeds import ingest as ingest_source


@click.command()
@click.argument("source")
def ingest(source: str) -> None:
    """Read posts from an RSS/Atom feed URL or file, or a JSON file of posts (SPEC §7)."""
    settings = load_settings()
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
