"""Imports committed chunk by chunk (issue 11, item 3): the same rules as one transaction, and a
failure half-way keeps the committed chunks, says how far it got, and a re-run finishes it.

Chunks of two rows, so that every rule meets a chunk boundary: a duplicate whose first
occurrence is in an earlier chunk, known readers spread over chunks, an erased address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from app.models import ConsentEvent, Subscriber, SubscriberStatus
from app.readers.importing import ImportStopped, import_in_chunks, import_subscribers
from app.readers.privacy import erase_reader

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _reader(db, email: str, status: str) -> Subscriber:
    reader = Subscriber(
        email=email,
        status=status,
        source="form",
        created_at=NOW - timedelta(days=9),
        updated_at=NOW - timedelta(days=9),
        confirm_nonce=0,
    )
    db.add(reader)
    db.flush()
    return reader


def _rows(*emails: str) -> list[tuple[int, str, str | None]]:
    return [(line, email, f"Name {line}") for line, email in enumerate(emails, 2)]


def test_chunks_keep_every_rule_of_the_import(db, settings):
    pending = _reader(db, "pending@example.org", SubscriberStatus.PENDING)
    _reader(db, "left@example.org", SubscriberStatus.UNSUBSCRIBED)
    _reader(db, "bounced@example.org", SubscriberStatus.BOUNCED)
    erased = _reader(db, "erased@example.org", SubscriberStatus.CONFIRMED)
    erase_reader(db, erased.id, settings=settings, now=NOW, channel="admin")
    db.commit()
    rows = _rows(
        "New.One@Example.org",  # 2
        "not-an-address",  # 3
        "left@example.org",  # 4
        "new.one@example.org",  # 5: duplicate of line 2, in the next chunk
        "PENDING@example.org",  # 6
        "erased@example.org",  # 7
        "bounced@example.org",  # 8
        "new.two@example.org",  # 9
        "pending@example.org",  # 10: duplicate, two chunks later
    )
    commits = []

    def commit() -> None:
        commits.append(True)
        db.commit()

    report = import_in_chunks(
        db,
        commit=commit,
        rows=rows,
        consent_source="sheet",
        now=NOW,
        keys=settings.signing_keys(),
        chunk_rows=2,
    )
    assert len(commits) == 1 + 5  # what the session held, then each chunk
    assert (report.created, report.confirmed_existing, report.unchanged, report.suppressed) == (
        2,
        1,
        2,
        1,
    )
    assert [(e["line"], e["email"]) for e in report.errors] == [
        (3, "not-an-address"),
        (5, "new.one@example.org"),
        (10, "pending@example.org"),
    ]
    assert "duplicate" in report.errors[1]["reason"] and "duplicate" in report.errors[2]["reason"]
    assert [(s["line"], s["email"]) for s in report.skipped] == [(7, "erased@example.org")]
    assert report.through_line == 10
    db.expire_all()
    readers = {
        r.email: r for r in db.scalars(select(Subscriber).where(Subscriber.erased_at.is_(None)))
    }
    assert {email: r.status for email, r in readers.items()} == {
        "new.one@example.org": "confirmed",
        "new.two@example.org": "confirmed",
        "pending@example.org": "confirmed",
        "left@example.org": "unsubscribed",
        "bounced@example.org": "bounced",
    }
    new = readers["new.one@example.org"]
    assert (new.name, new.source, new.confirmed_at, new.confirmation_sent_at) == (
        "Name 2",
        "import:sheet",
        NOW,
        None,
    )
    assert db.get(Subscriber, pending.id).confirmed_at == NOW
    imported = db.scalars(
        select(ConsentEvent.email).where(ConsentEvent.kind == "import").order_by(ConsentEvent.email)
    ).all()
    assert imported == ["new.one@example.org", "new.two@example.org", "pending@example.org"]
    assert set(db.scalars(select(ConsentEvent.channel).where(ConsentEvent.kind == "import"))) == {
        "import:sheet"
    }


def test_one_transaction_and_chunks_report_the_same(db, settings):
    rows = _rows(*[f"r{i % 7}@example.org" for i in range(12)], "broken")
    whole = import_subscribers(
        db, rows=rows, consent_source="a", now=NOW, keys=settings.signing_keys()
    )
    db.rollback()
    chunked = import_in_chunks(
        db,
        commit=db.commit,
        rows=rows,
        consent_source="a",
        now=NOW,
        keys=settings.signing_keys(),
        chunk_rows=3,
    )
    assert chunked == whole
    assert (whole.created, len(whole.errors)) == (7, 6)


def test_a_failure_half_way_keeps_committed_chunks_and_a_rerun_finishes(db, settings):
    rows = _rows(*[f"reader{i}@example.org" for i in range(10)])  # lines 2..11
    calls = []

    def commit() -> None:
        calls.append(True)
        if len(calls) == 4:  # the database fails as chunk 3 is committed
            db.execute(text("SELECT * FROM no_such_table"))
        db.commit()

    with pytest.raises(ImportStopped) as stopped:
        import_in_chunks(
            db,
            commit=commit,
            rows=rows,
            consent_source="s",
            now=NOW,
            keys=settings.signing_keys(),
            chunk_rows=3,
        )
    db.rollback()
    report = stopped.value.report
    assert (report.created, report.through_line) == (6, 7)
    assert "stopped after line 7" in str(stopped.value)
    assert "6 created" in str(stopped.value) and "again is safe" in str(stopped.value)
    stored = db.scalars(select(Subscriber.email).order_by(Subscriber.id)).all()
    assert sorted(stored) == sorted(f"reader{i}@example.org" for i in range(6))
    again = import_in_chunks(
        db, commit=db.commit, rows=rows, consent_source="s", now=NOW, keys=settings.signing_keys()
    )
    assert (again.created, again.unchanged, again.errors) == (4, 6, [])
    assert db.scalar(select(func.count()).select_from(Subscriber)) == 10
    consents = db.scalar(
        select(func.count()).select_from(ConsentEvent).where(ConsentEvent.kind == "import")
    )
    assert consents == 10  # one per reader: the re-run recorded none twice
