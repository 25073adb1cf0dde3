"""`digest sources list|set`: editors' per-source weights and readers' click priors."""

from __future__ import annotations

import click

from app import clock
from app.cli.settings import load_settings
from app.db import session_scope
from app.ranking.sources import (
    CLICK_WEEKS,
    InvalidSourceWeight,
    set_source_weight,
    source_table,
)


@click.group()
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
    load_settings()
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
    load_settings()
    with session_scope() as session:
        try:
            row = set_source_weight(session, source=source, weight=weight, now=clock.now())
        except InvalidSourceWeight as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"{row.name}: weight {row.weight:g}")
