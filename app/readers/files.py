"""Readers in and out as CSV: parse an upload into numbered rows, write the list back out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from app.errors import Invalid
from app.models import Subscriber

MAX_CSV_BYTES = 20_000_000
EXPORT_COLUMNS = (
    "email",
    "name",
    "status",
    "source",
    "created_at",
    "confirmed_at",
    "unsubscribed_at",
)


class BadCSV(Invalid):
    """The file as a whole cannot be read (not rows: those are reported one by one)."""


def parse_subscriber_csv(data: bytes) -> list[tuple[int, str, str | None]]:
    """(line, email, name) for each data row of a CSV with an `email` column (and `name`)."""
    if len(data) > MAX_CSV_BYTES:
        raise BadCSV(f"the file is larger than {MAX_CSV_BYTES // 1_000_000} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadCSV(f"the file is not UTF-8 text (byte {error.start})") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration as error:
        raise BadCSV("the file is empty") from error
    except csv.Error as error:
        raise BadCSV(f"line 1: {error}") from error
    if "email" not in header:
        raise BadCSV(
            "the first line must be a header with an 'email' column (and optionally 'name')"
        )
    email_at = header.index("email")
    name_at = header.index("name") if "name" in header else None
    rows: list[tuple[int, str, str | None]] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(field.strip() for field in record):
                continue
            email = record[email_at] if email_at < len(record) else ""
            name = record[name_at] if name_at is not None and name_at < len(record) else None
            rows.append((line, email, name))
    except csv.Error as error:
        raise BadCSV(f"line {reader.line_num}: {error}") from error
    return rows


def export_subscriber_csv(subscribers: Iterable[Subscriber]) -> Iterator[str]:
    """CSV text, header first, one reader per line (streamable)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for subscriber in subscribers:
        writer.writerow(
            [
                _csv_safe(subscriber.email),
                _csv_safe(subscriber.name or ""),
                subscriber.status,
                _csv_safe(subscriber.source),
                subscriber.created_at.isoformat(),
                subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else "",
                subscriber.unsubscribed_at.isoformat() if subscriber.unsubscribed_at else "",
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in values people typed."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
