"""`digest rank`: a week's ranking as a table, written nowhere."""

from __future__ import annotations

import click

from app import clock
from app.cli.settings import load_settings
from app.db import session_scope
from app.ranking.report import format_ranking_table, rank_week
from app.weeks import last_complete_week, parse_week


@click.command()
@click.option("--week", default=None, help="ISO week like 2026-W48 (default: the last complete).")
def rank(week: str | None) -> None:
    """Print the ranked top 10 of a week with scores and reasons; changes nothing."""
    settings = load_settings()
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
