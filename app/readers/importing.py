"""Bulk import of readers who gave consent elsewhere (a sign-up sheet, an older list).

An import goes in chunks of CHUNK_ROWS rows, each checked first (no database: email-validator is
most of an import's time) and then stored with one lookup and bulk inserts. The edges commit after
every chunk (`import_in_chunks`): on SQLite every transaction holds the database's write lock, and
one transaction for a 100,000-row file kept every other request waiting for minutes (issue 11,
item 3). Between chunks the lock is free while the next chunk is checked.

A failure half-way (the database gone, a lock timeout) leaves the committed chunks imported and
raises `ImportStopped`, which says up to which line. Running the same import again is safe: it
creates only the readers still missing, and skips or leaves as they are those it already handled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.errors import Unavailable
from app.models import Subscriber, SubscriberStatus
from app.readers.privacy import erased_addresses, hashes_for
from app.readers.subscriptions import (
    InvalidAddress,
    Requester,
    SubscriptionRequest,
    _consent_row,
    _insert_consents,
    _insert_new,
    normalise_email,
)

# Rows per transaction: big enough that statements, not round trips, cost the time; small enough
# that a chunk holds SQLite's write lock for tens of milliseconds.
CHUNK_ROWS = 500
ERASED_REASON = "erased at the reader's request: an import cannot bring this address back"

Row = tuple[int, str, str | None]


@dataclass
class ImportReport:
    """What an import did, with each bad row named by its line."""

    created: int = 0
    confirmed_existing: int = 0
    unchanged: int = 0
    # Addresses whose reader asked to be erased: refused, each named by its line.
    suppressed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    # The last input line this report covers (0: none yet); after a failure, how far it got.
    through_line: int = 0

    def add(self, part: ImportReport) -> None:
        """Count a chunk's report in (once that chunk is committed)."""
        self.created += part.created
        self.confirmed_existing += part.confirmed_existing
        self.unchanged += part.unchanged
        self.suppressed += part.suppressed
        self.errors.extend(part.errors)
        self.skipped.extend(part.skipped)
        self.through_line = max(self.through_line, part.through_line)


class ImportStopped(Unavailable):
    """The database failed half-way: the chunks before are imported, `report` counts them."""

    def __init__(self, report: ImportReport, error: Exception) -> None:
        done = (
            f"Lines up to {report.through_line} are imported ({report.created} created, "
            f"{report.confirmed_existing} confirmed, {report.unchanged} unchanged, "
            f"{report.suppressed} suppressed, {len(report.errors)} bad rows)"
            if report.through_line
            else "Nothing was imported"
        )
        where = f"after line {report.through_line}" if report.through_line else "at its start"
        super().__init__(
            f"The import stopped {where}: the database failed ({type(error).__name__}). "
            f"{done}. Importing the same file again is safe: it adds what is missing."
        )
        self.report = report


def import_subscribers(
    session: Session,
    *,
    rows: Iterable[Row],
    consent_source: str,
    now: datetime,
    keys: Sequence[str],
) -> ImportReport:
    """Import (line, email, name) rows as confirmed readers in the caller's one transaction.

    For small lists (the demo, tests); a file from an editor goes through `import_in_chunks`.
    """
    report = ImportReport()
    for part in import_chunks(
        session, rows=rows, consent_source=consent_source, now=now, keys=keys
    ):
        report.add(part)
    return report


def import_in_chunks(
    session: Session,
    *,
    commit: Callable[[], None],
    rows: Iterable[Row],
    consent_source: str,
    now: datetime,
    keys: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Import like `import_subscribers`, calling the edge's `commit` after every chunk.

    The commit is the caller's (services never commit on their own); it is called first too, so
    that what the session holds open (an admin's login check) is not kept during the checks.
    A database failure raises `ImportStopped` with the report of the chunks committed before.
    """
    report = ImportReport()
    try:
        commit()
        for part in import_chunks(
            session,
            rows=rows,
            consent_source=consent_source,
            now=now,
            keys=keys,
            chunk_rows=chunk_rows,
        ):
            commit()
            report.add(part)
    except (SQLAlchemyError, TimeoutError) as error:
        raise ImportStopped(report, error) from error
    return report


def import_chunks(
    session: Session,
    *,
    rows: Iterable[Row],
    consent_source: str,
    now: datetime,
    keys: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[ImportReport]:
    """Import (line, email, name) rows as confirmed readers, yielding each chunk's report once
    its work is done in `session`; bad rows are reported, not fatal.

    Unsubscribed and suppressed readers stay as they are: an import never resubscribes anyone.
    Nor does it bring back an erased address: its keyed hash (under any of `keys`, the secret
    keys) matches the erased reader's, and the row is skipped as suppressed. Only the reader
    can come back, through the subscribe form and its confirmation. An address repeated in the
    file is an error on every line after its first, whichever chunk they fall in.
    """
    requester = Requester(channel=f"import:{consent_source}"[:100])
    seen: set[str] = set()
    rows = iter(rows)
    while chunk := list(islice(rows, chunk_rows)):
        part = ImportReport(through_line=chunk[-1][0])
        valid = _checked(chunk, seen, part)  # before any statement: no transaction is open yet
        if valid:
            _store(session, valid, requester=requester, now=now, keys=keys, report=part)
        yield part


def _checked(chunk: list[Row], seen: set[str], report: ImportReport) -> list[Row]:
    """The chunk's rows with a valid address new to this import; the others as errors."""
    valid: list[Row] = []
    for line, raw_email, name in chunk:
        try:
            email = normalise_email(raw_email)
        except InvalidAddress as error:
            report.errors.append(
                {"line": line, "email": str(raw_email)[:320], "reason": error.reason}
            )
            continue
        if email in seen:
            report.errors.append(
                {"line": line, "email": email, "reason": "duplicate in this import"}
            )
            continue
        seen.add(email)
        valid.append((line, email, name))
    return valid


def _store(
    session: Session,
    valid: list[Row],
    *,
    requester: Requester,
    now: datetime,
    keys: Sequence[str],
    report: ImportReport,
) -> None:
    """One chunk's statements: the erased lookup, one insert of the new readers, one lookup of
    the known ones (pending ones are confirmed), one insert of the consent records."""
    session.flush()  # the Core insert must see readers this session has not written yet
    postgres = session.get_bind().dialect.name == "postgresql"
    emails = [email for _line, email, _name in valid]
    erased = (
        _pg_erased(session, keys, emails) if postgres else erased_addresses(session, keys, emails)
    )
    wanted: dict[str, SubscriptionRequest] = {}
    for line, email, name in valid:
        if email in erased:
            report.suppressed += 1
            report.skipped.append({"line": line, "email": email, "reason": ERASED_REASON})
        else:
            wanted[email] = SubscriptionRequest(email=email, name=name, requester=requester)
    if not wanted:
        return
    consents: list[tuple[int, str]] = []
    for subscriber_id, email, _requester in _insert_new(
        session, list(wanted.values()), now=now, imported=True
    ):
        consents.append((subscriber_id, email))
        del wanted[email]
    report.created += len(consents)
    if wanted:  # already known: only a pending reader changes (confirmed by this import)
        known = session.scalars(
            select(Subscriber).from_statement(_PG_KNOWN).params(emails=list(wanted))
            if postgres
            else select(Subscriber).where(Subscriber.email.in_(list(wanted)))
        )
        for subscriber in known:
            if subscriber.status == SubscriberStatus.PENDING:
                subscriber.status = SubscriberStatus.CONFIRMED
                subscriber.confirmed_at = now
                subscriber.updated_at = now
                consents.append((subscriber.id, subscriber.email))
                report.confirmed_existing += 1
            else:
                report.unchanged += 1
    if consents:
        _insert_consents(
            session,
            [_consent_row(id_, email, "import", requester, now, None) for id_, email in consents],
        )


# PostgreSQL: the chunk's values as one array joined to the table. With an `IN (...)` list of
# 500 parameters each lookup took 1-2 s once the import had grown the table (not yet analysed,
# the statement prepared by psycopg after five runs): 313 s for 100,000 rows, 33 s with this.
_PG_KNOWN = text(
    """
    SELECT subscribers.* FROM unnest(CAST(:emails AS varchar[])) AS wanted(email)
    JOIN subscribers ON subscribers.email = wanted.email
    ORDER BY subscribers.id
    FOR NO KEY UPDATE OF subscribers
    """
)
_PG_ERASED = text(
    """
    SELECT subscribers.email_hash FROM unnest(CAST(:hashes AS varchar[])) AS wanted(hash)
    JOIN subscribers ON subscribers.email_hash = wanted.hash
    """
)


def _pg_erased(session: Session, keys: Sequence[str], emails: list[str]) -> set[str]:
    """`erased_addresses` for PostgreSQL, one statement per chunk (see `_PG_ERASED`)."""
    by_hash = {digest: email for email in emails for digest in hashes_for(keys, email)}
    found = session.scalars(_PG_ERASED, {"hashes": list(by_hash)})
    return {by_hash[digest] for digest in found}
