"""`digest subscribers import|export`: readers in and out as CSV; one reader's data exported
(`export-data`) or erased (`erase`)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import select

from app import clock
from app.cli.settings import load_settings
from app.db import session_scope
from app.errors import DigestError
from app.models import Subscriber, SubscriberStatus
from app.readers.files import BadCSV, export_subscriber_csv, parse_subscriber_csv
from app.readers.importing import import_in_chunks
from app.readers.privacy import erase_reader, export_reader


@click.group()
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
    settings = load_settings()
    try:
        rows = parse_subscriber_csv(csv_file.read_bytes())
    except BadCSV as error:
        raise click.ClickException(f"{csv_file}: {error}") from error
    try:  # committed chunk by chunk: a failure says how far it got, and a re-run is safe
        with session_scope() as session:
            report = import_in_chunks(
                session,
                commit=session.commit,
                rows=rows,
                consent_source=consent_source,
                now=clock.now(),
                keys=settings.signing_keys(),
            )
    except DigestError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"created {report.created}, confirmed {report.confirmed_existing}, "
        f"unchanged {report.unchanged}, suppressed {report.suppressed}, "
        f"bad rows {len(report.errors)}"
    )
    for error in [*report.skipped, *report.errors]:
        click.echo(f"  line {error['line']}: {error['email']!r}: {error['reason']}", err=True)


@subscribers.command("export")
@click.option("--status", default=None, help="Only readers with this status.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def export_command(status: str | None, output: click.utils.LazyFile) -> None:
    """Write readers as CSV (to stdout by default)."""
    load_settings()
    if status is not None and status not in SubscriberStatus.ALL:
        raise click.BadParameter(f"one of {', '.join(SubscriberStatus.ALL)}", param_hint="--status")
    with session_scope() as session:
        query = select(Subscriber).order_by(Subscriber.id)
        if status:
            query = query.where(Subscriber.status == status)
        for chunk in export_subscriber_csv(session.scalars(query)):
            output.write(chunk)


@subscribers.command("export-data")
@click.argument("subscriber_id", type=int)
def export_data_command(subscriber_id: int) -> None:
    """Print everything stored about one reader as JSON (SPEC §10 GDPR)."""
    load_settings()
    try:
        with session_scope() as session:
            data = export_reader(session, subscriber_id, now=clock.now())
    except DigestError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@subscribers.command("erase")
@click.argument("subscriber_id", type=int)
@click.option("--yes", is_flag=True, help="Erase without asking (for scripts).")
def erase_command(subscriber_id: int, yes: bool) -> None:
    """Erase one reader's address and name everywhere; the consent record keeps a keyed hash."""
    settings = load_settings()
    if not yes:
        click.confirm(f"Erase reader {subscriber_id}? This cannot be undone", abort=True)
    try:
        with session_scope() as session:
            erasure = erase_reader(
                session, subscriber_id, settings=settings, now=clock.now(), channel="cli"
            )
    except DigestError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"reader {erasure.subscriber_id} erased ({erasure.status}): "
        f"{erasure.consent_events} consent records now hold {erasure.address_hash}; "
        f"{erasure.outbox_files} outbox file(s) deleted"
    )
