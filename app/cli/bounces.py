"""`digest bounces process [FILE …|-]`: late bounces and complaints from files or an MTA pipe.

Each FILE is one raw message (RFC 5322: a DSN, an ARF report, or whatever arrived at the bounce
address); `-` reads one message from stdin, as Postfix's pipe(8) hands it over. Every message is
answered with one line per report saying what was done. Exit status: 0 when every message was
read (whatever it said); 1 when a file could not be read; 75 (EX_TEMPFAIL) when the database
could not be used, so that an MTA keeps the message and pipes it again later.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from app.bounces.outcomes import Applied
from app.bounces.process import MAX_MESSAGE_BYTES, process_message
from app.cli.settings import load_settings

EX_TEMPFAIL = 75  # sysexits.h: "try again later"; Postfix defers the message


@click.group()
def bounces() -> None:
    """Late bounces and complaints (DSN, ARF) from files or an MTA pipe."""


@bounces.command("process")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
def bounces_process(files: tuple[str, ...]) -> None:
    """Read each FILE (or `-`, stdin) as one message and apply what it reports."""
    settings = load_settings()
    if not files:
        raise click.UsageError("name one or more message files, or - to read one from stdin")
    unreadable = 0
    for name in files:
        try:
            raw = _read(name)
        except OSError as error:
            click.echo(f"{name}: cannot read: {error.strerror or error}", err=True)
            unreadable += 1
            continue
        try:
            applied = process_message(raw, source="pipe", settings=settings)
        except SQLAlchemyError as error:
            click.echo(f"{name}: database unavailable, try again later: {error}", err=True)
            sys.exit(EX_TEMPFAIL)
        for outcome in applied:
            click.echo(f"{'stdin' if name == '-' else name}: {_line(outcome)}")
    if unreadable:
        sys.exit(1)


def _read(name: str) -> bytes:
    """The message's bytes, at most one over the limit (process_message refuses larger ones)."""
    if name == "-":
        return sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    with open(name, "rb") as handle:
        return handle.read(MAX_MESSAGE_BYTES + 1)


def _line(outcome: Applied) -> str:
    report, about = outcome.report, ""
    if report is not None:
        kind = {"hard": "permanent failure", "soft": "temporary failure"}.get(
            report.kind, report.kind
        )
        about = f"{kind} for {report.recipient or 'an unnamed recipient'} → "
    return about + outcome.action
