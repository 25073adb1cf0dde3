"""A reader's data export and erasure (SPEC §10 GDPR), on SQLite and PostgreSQL.

Erasure is checked where it matters: the address is searched for in every text column of every
table afterwards, the consent record still shows its kinds and dates, the database's own
triggers let only the erasure update through, an import of the address is refused and a form
subscribe of it works.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from app.accounts import create_admin
from app.cli import main
from app.config import get_settings
from app.db import make_engine
from app.delivery.outbox import OutboxTransport
from app.migrate import alembic_config, upgrade
from app.models import (
    Base,
    BounceEvent,
    ConsentEvent,
    Delivery,
    Issue,
    Subscriber,
    SubscriberStatus,
)
from app.readers.importing import import_subscribers
from app.readers.privacy import (
    AlreadyErased,
    ReaderNotFound,
    email_hash,
    erase_reader,
    export_reader,
    hashes_for,
)
from app.readers.subscriptions import Requester, record_consent
from tests.conftest import create_postgres_database, drop_postgres_database, needs_postgres
from tests.test_admin import csrf_of, log_in

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the frozen_clock's time
LATER = NOW + timedelta(days=3)
ADDRESS = "ada.lovelace+news@example.org"
NAME = "Ada Lovelace"
IP, AGENT = "203.0.113.77", "Mozilla/5.0 (AdaBrowser)"
SECRET = "test-secret-key-0123456789abcdef"  # the settings fixture's key


def add_reader(
    db, *, address: str = ADDRESS, name: str = NAME, status: str = SubscriberStatus.CONFIRMED
) -> int:
    """A confirmed reader with a consent record, a failed delivery and a bounce that name them."""
    reader = Subscriber(
        email=address,
        name=name,
        status=status,
        source="form",
        created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=29),
        confirmed_at=NOW - timedelta(days=29),
        confirm_nonce=0,
    )
    db.add(reader)
    db.flush()
    asked = Requester(ip=IP, user_agent=AGENT, channel="form")
    record_consent(db, reader, "subscribe-request", asked, NOW - timedelta(days=30), "2026-11-v1")
    record_consent(db, reader, "confirm", asked, NOW - timedelta(days=29))
    issue = db.scalar(select(Issue).where(Issue.week == "2026-W47")) or Issue(
        week="2026-W47",
        status="sent",
        subject="Week 47",
        intro="",
        pins=[],
        drops=[],
        created_at=NOW,
        updated_at=NOW,
    )
    db.add(issue)
    db.flush()
    db.add(
        Delivery(
            issue_id=issue.id,
            subscriber_id=reader.id,
            batch=0,
            state="bounced",
            attempts=1,
            last_error=f"550 5.1.1 <{address}>: Recipient address rejected",
            updated_at=NOW,
        )
    )
    db.add(
        BounceEvent(
            subscriber_id=reader.id,
            issue_id=issue.id,
            kind="soft",
            status="4.2.2",
            diagnostic=f"452 4.2.2 {address}: mailbox full",
            source="pipe",
            reference="<dsn-1@mx.example.net>",
            received_at=NOW - timedelta(days=1),
        )
    )
    db.flush()
    return reader.id


def places_holding(db, needle: str) -> set[str]:
    """Every `table.column` whose text (any string, text or JSON column) contains `needle`."""
    schema = inspect(db.connection())
    found = set()
    for table in schema.get_table_names():
        for column in schema.get_columns(table):
            if not isinstance(column["type"], sa.String | sa.Text | sa.JSON):
                continue
            name = column["name"]
            query = text(
                f'SELECT count(*) FROM "{table}" WHERE lower(CAST("{name}" AS TEXT)) LIKE :p'
            )
            if db.scalar(query, {"p": f"%{needle.lower()}%"}):
                found.add(f"{table}.{name}")
    return found


# --- the keyed hash -------------------------------------------------------------------------------


def test_the_hash_is_keyed_prefixed_and_reads_the_normalised_address():
    digest = email_hash([SECRET], ADDRESS)
    assert re.fullmatch(r"erased:[0-9a-f]{64}", digest)
    assert email_hash([SECRET, "older"], f"  {ADDRESS.upper()} ") == digest
    assert email_hash(["another-key"], ADDRESS) != digest
    assert email_hash([SECRET], "someone.else@example.org") != digest
    assert hashes_for(["new-key", SECRET], ADDRESS) == [email_hash(["new-key"], ADDRESS), digest]


# --- export ---------------------------------------------------------------------------------------


def test_the_export_holds_address_consent_deliveries_bounces_and_says_why_no_clicks(db):
    reader_id = add_reader(db)
    data = export_reader(db, reader_id, now=NOW)
    assert json.loads(json.dumps(data)) == data  # JSON as it is
    assert (data["id"], data["address"], data["name"], data["status"]) == (
        reader_id,
        ADDRESS,
        NAME,
        "confirmed",
    )
    assert data["created_at"] == "2026-10-31T09:00:00+00:00"
    assert data["erased_at"] is None and data["exported_at"] == NOW.isoformat()
    kinds = [(e["kind"], e["ip"], e["user_agent"], e["address"]) for e in data["consent_events"]]
    assert kinds == [("subscribe-request", IP, AGENT, ADDRESS), ("confirm", IP, AGENT, ADDRESS)]
    assert data["consent_events"][0]["consent_text_version"] == "2026-11-v1"
    [delivery] = data["deliveries"]
    assert (delivery["issue_week"], delivery["state"]) == ("2026-W47", "bounced")
    assert ADDRESS in delivery["last_error"]
    [bounce] = data["bounce_events"]
    assert (bounce["kind"], bounce["status"], bounce["issue_week"]) == ("soft", "4.2.2", "2026-W47")
    assert data["clicks"] == [] and "not per reader" in data["clicks_note"]


def test_the_export_of_an_unknown_reader_is_not_found(db):
    with pytest.raises(ReaderNotFound, match="no reader 999999"):
        export_reader(db, 999_999, now=NOW)


# --- erasure --------------------------------------------------------------------------------------


def test_after_erasure_the_address_name_ip_and_agent_are_nowhere_in_the_database(db, settings):
    reader_id = add_reader(db)
    # A second reader keeps everything (the same IP and browser: shared by a household).
    other = add_reader(db, address="grace@example.org", name="Grace Hopper")
    before = places_holding(db, ADDRESS)
    assert {
        "subscribers.email",
        "consent_events.email",
        "deliveries.last_error",
        "bounce_events.diagnostic",
    } <= before  # the scan sees the address where the seed put it
    erasure = erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    for needle in (ADDRESS, "ada.lovelace", NAME, IP, AGENT):
        remaining = places_holding(db, needle)
        if needle in (IP, AGENT):
            remaining.discard("consent_events.ip")  # the other reader's own, checked below
            remaining.discard("consent_events.user_agent")
        assert remaining == set(), needle
    kept = db.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == other)).all()
    assert {(e.email, e.ip, e.user_agent) for e in kept} == {("grace@example.org", IP, AGENT)}
    assert erasure.consent_events == 2 and erasure.deliveries == 1 and erasure.bounce_events == 1


def test_the_consent_record_keeps_kinds_dates_and_channels_under_the_hash(db, settings):
    reader_id = add_reader(db)
    erase_reader(db, reader_id, settings=settings, now=LATER, channel="api")
    db.expire_all()
    reader = db.get(Subscriber, reader_id)
    digest = email_hash([SECRET], ADDRESS)
    assert (reader.email, reader.name, reader.status) == (
        f"erased-{reader_id}@erased.invalid",
        None,
        "unsubscribed",
    )
    assert (reader.email_hash, reader.erased_at, reader.unsubscribed_at) == (digest, LATER, LATER)
    events = db.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == reader_id)
        .order_by(ConsentEvent.id)
    ).all()
    assert [(e.kind, e.at, e.channel, e.email, e.ip) for e in events] == [
        ("subscribe-request", NOW - timedelta(days=30), "form", digest, None),
        ("confirm", NOW - timedelta(days=29), "form", digest, None),
        ("erased", LATER, "api", digest, None),
    ]
    assert events[0].consent_text_version == "2026-11-v1"
    exported = export_reader(db, reader_id, now=LATER)
    assert exported["address"] is None and exported["address_hash"] == digest
    assert [e["kind"] for e in exported["consent_events"]][-1] == "erased"


@pytest.mark.parametrize("status", ["bounced", "complained", "unsubscribed", "pending"])
def test_a_suppressed_reader_stays_suppressed_and_others_end_unsubscribed(db, settings, status):
    reader_id = add_reader(db, status=status)
    erasure = erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    expected = status if status in SubscriberStatus.SUPPRESSED else "unsubscribed"
    assert erasure.status == expected == db.get(Subscriber, reader_id).status


def test_a_second_erasure_is_a_conflict_and_an_unknown_reader_not_found(db, settings):
    reader_id = add_reader(db)
    erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    with pytest.raises(AlreadyErased, match="already erased"):
        erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    with pytest.raises(ReaderNotFound):
        erase_reader(db, 999_999, settings=settings, now=LATER, channel="admin")


def test_copies_in_the_outbox_go_and_a_lookalike_address_stays(db, settings):
    reader_id = add_reader(db)
    outbox = OutboxTransport(settings.outbox_dir)
    mine = outbox.write(sender="d@news.example.org", recipient=ADDRESS, message=b"To: x\r\n\r\nhi")
    # "+" and "-" share a slug: the file name alone cannot tell these two readers apart.
    twin = "ada.lovelace-news@example.org"
    theirs = outbox.write(sender="d@news.example.org", recipient=twin, message=b"To: y\r\n\r\nhi")
    assert mine.name.split("-", 2)[2] == theirs.name.split("-", 2)[2]
    erasure = erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    assert erasure.outbox_files == 1
    assert not mine.exists() and theirs.exists()


# --- the database's append-only rule --------------------------------------------------------------


def _consent_id(db) -> int:
    reader_id = add_reader(db)
    return db.scalar(select(ConsentEvent.id).where(ConsentEvent.subscriber_id == reader_id))


def _refused(db, statement: str, **values) -> None:
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text(statement), values)


ERASE_ROW = "UPDATE consent_events SET email = :h, ip = NULL, user_agent = NULL WHERE id = :id"


def test_the_database_lets_the_erasure_update_through_and_nothing_else(db):
    event_id = _consent_id(db)
    digest = "erased:" + "ab" * 32
    _refused(db, "UPDATE consent_events SET kind = 'confirm' WHERE id = :id", id=event_id)
    _refused(db, "UPDATE consent_events SET email = 'x@example.org' WHERE id = :id", id=event_id)
    _refused(db, "UPDATE consent_events SET email = :h WHERE id = :id", h=digest, id=event_id)
    _refused(
        db,
        "UPDATE consent_events SET email = :h, ip = NULL, user_agent = NULL, "
        "channel = 'admin' WHERE id = :id",
        h=digest,
        id=event_id,
    )
    _refused(db, "DELETE FROM consent_events WHERE id = :id", id=event_id)
    with db.begin_nested():
        db.execute(text(ERASE_ROW), {"h": digest, "id": event_id})
    assert db.scalar(select(ConsentEvent.email).where(ConsentEvent.id == event_id)) == digest
    # An erased row is final: not erased again, not deleted.
    _refused(db, ERASE_ROW, h="erased:" + "cd" * 32, id=event_id)
    _refused(db, "DELETE FROM consent_events WHERE id = :id", id=event_id)


def test_the_models_match_the_migrated_tables(db):
    context = MigrationContext.configure(db.connection())
    tables = ("subscribers", "consent_events", "bounce_events")
    differences = [
        diff
        for diff in compare_metadata(context, Base.metadata)
        if any(name in repr(diff) for name in tables)
    ]
    assert differences == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[needs_postgres])])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty database of each backend that this test alone migrates."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_postgres_database("privacy")
    yield url
    drop_postgres_database(url)


def test_the_migration_goes_down_to_0002_and_up_again(fresh_url):
    engine = make_engine(fresh_url)
    insert_reader = text(
        "INSERT INTO subscribers (id, email, status, source, created_at, updated_at, "
        "confirm_nonce) VALUES (:id, :email, 'confirmed', 'form', :at, :at, 0)"
    )
    insert_event = text(
        "INSERT INTO consent_events (subscriber_id, email, kind, at, ip, channel) "
        "VALUES (:id, :email, 'confirm', :at, '198.51.100.1', 'form')"
    )
    erase = text(
        "UPDATE consent_events SET email = 'erased:00', ip = NULL, user_agent = NULL "
        "WHERE subscriber_id = :id"
    )

    def seeded(reader_id: int) -> None:
        values = {
            "id": reader_id,
            "email": f"r{reader_id}@example.org",
            "at": NOW.replace(tzinfo=None),
        }
        with engine.begin() as conn:
            conn.execute(insert_reader, values)
            conn.execute(insert_event, values)

    try:
        upgrade(fresh_url)
        command.downgrade(alembic_config(fresh_url), "0002")
        with engine.connect() as conn:
            schema = inspect(conn)
            assert "bounce_events" not in schema.get_table_names()
            assert "email_hash" not in {c["name"] for c in schema.get_columns("subscribers")}
        seeded(1)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(erase, {"id": 1})  # 0002: no update at all
        upgrade(fresh_url)
        seeded(2)
        with engine.begin() as conn:
            conn.execute(erase, {"id": 2})
            assert conn.scalar(text("SELECT email FROM consent_events WHERE subscriber_id = 2"))
        with engine.connect() as conn:
            emails = dict(
                conn.execute(text("SELECT subscriber_id, email FROM consent_events")).all()
            )
        assert emails == {1: "r1@example.org", 2: "erased:00"}
    finally:
        engine.dispose()


# --- coming back: import refused, form accepted ---------------------------------------------------


def test_an_import_of_an_erased_address_is_refused_under_any_configured_key(db, settings):
    reader_id = add_reader(db)
    erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    rows = [(2, ADDRESS.upper(), "Ada again"), (3, "new.reader@example.org", None)]
    # The key was rotated since: the old one, now second, still finds the erased hash.
    report = import_subscribers(
        db, rows=rows, consent_source="sheet", now=LATER, keys=["rotated-key", SECRET]
    )
    assert (report.created, report.suppressed, report.unchanged, report.errors) == (1, 1, 0, [])
    [skipped] = report.skipped
    assert (skipped["line"], skipped["email"]) == (2, ADDRESS)
    assert "erased" in skipped["reason"]
    assert db.scalar(select(Subscriber).where(Subscriber.email == ADDRESS)) is None
    # Without the key it was hashed with, the address is unknown and would be imported.
    fresh = import_subscribers(
        db, rows=rows[:1], consent_source="sheet", now=LATER, keys=["unrelated-key"]
    )
    assert (fresh.created, fresh.suppressed) == (1, 0)


def test_the_subscribe_form_accepts_an_erased_address_as_a_new_pending_reader(
    client, db, settings, published
):
    reader_id = add_reader(db)
    erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    db.commit()
    response = client.post("/subscribe", json={"email": ADDRESS, "name": "Ada"})
    assert response.status_code == 202
    db.expire_all()
    again = db.scalar(select(Subscriber).where(Subscriber.email == ADDRESS))
    assert again is not None and again.id != reader_id and again.status == "pending"
    assert db.get(Subscriber, reader_id).erased_at is not None  # the erased row stays


# --- the admin API --------------------------------------------------------------------------------


def test_api_export_and_erase(client, db, admin_headers, frozen_clock):
    reader_id = add_reader(db)
    db.commit()
    exported = client.get(f"/api/subscribers/{reader_id}/export", headers=admin_headers)
    assert exported.status_code == 200
    body = exported.json()
    assert (body["address"], body["name"], len(body["consent_events"])) == (ADDRESS, NAME, 2)
    assert body["clicks"] == [] and body["deliveries"][0]["issue_week"] == "2026-W47"
    erased = client.post(f"/api/subscribers/{reader_id}/erase", headers=admin_headers)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {
        "subscriber_id": reader_id,
        "address_hash": email_hash([SECRET], ADDRESS),
        "erased_at": NOW.isoformat(),
        "status": "unsubscribed",
        "consent_events": 2,
        "deliveries": 1,
        "bounce_events": 1,
        "outbox_files": 0,
    }
    again = client.post(f"/api/subscribers/{reader_id}/erase", headers=admin_headers)
    assert again.status_code == 409 and "already erased" in again.json()["detail"]
    after = client.get(f"/api/subscribers/{reader_id}/export", headers=admin_headers).json()
    assert after["address"] is None and [e["kind"] for e in after["consent_events"]] == [
        "subscribe-request",
        "confirm",
        "erased",
    ]
    imported = client.post(
        "/api/subscribers/import",
        json={"consent_source": "sheet", "subscribers": [{"email": ADDRESS}]},
        headers=admin_headers,
    )
    assert imported.status_code == 200
    assert (imported.json()["suppressed"], imported.json()["created"]) == (1, 0)
    assert imported.json()["skipped"][0]["line"] == 1


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/api/subscribers/999999/export", "good", 404),
        ("post", "/api/subscribers/999999/erase", "good", 404),
        ("get", "/api/subscribers/abc/export", "good", 422),
        ("post", "/api/subscribers/abc/erase", "good", 422),
        ("get", "/api/subscribers/{id}/export", None, 401),
        ("post", "/api/subscribers/{id}/erase", None, 401),
        ("post", "/api/subscribers/{id}/erase", "wrong", 403),
    ],
)
def test_api_refusals_change_nothing(client, db, admin_headers, method, path, headers, status):
    reader_id = add_reader(db)
    db.commit()
    chosen = {
        "good": admin_headers,
        "wrong": {"Authorization": "Bearer not-the-token"},
        None: {},
    }[headers]
    response = getattr(client, method)(path.format(id=reader_id), headers=chosen)
    assert response.status_code == status and "detail" in response.json()
    db.expire_all()
    assert db.get(Subscriber, reader_id).email == ADDRESS


# --- the admin pages ------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db, frozen_clock):
    create_admin(db, email="editor@example.org", password="correct horse battery staple", now=NOW)
    db.commit()
    assert log_in(client).status_code == 303
    return client


def test_admin_reader_page_export_and_erase(admin_client, db, settings):
    reader_id = add_reader(db)
    db.commit()
    listing = admin_client.get("/admin/readers")
    assert f'href="/admin/readers/{reader_id}"' in listing.text
    page = admin_client.get(f"/admin/readers/{reader_id}")
    assert page.status_code == 200 and ADDRESS in page.text and "subscribe-request" in page.text
    assert "Export data (JSON)" in page.text and "Erase this reader" in page.text
    download = admin_client.get(f"/admin/readers/{reader_id}/export.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert download.json()["address"] == ADDRESS
    token = csrf_of(page.text)

    wrong = admin_client.post(
        f"/admin/readers/{reader_id}/erase",
        data={"csrf_token": token, "confirm_address": "someone@example.org"},
    )
    assert wrong.status_code == 422 and "address exactly to confirm" in wrong.text
    forged = admin_client.post(
        f"/admin/readers/{reader_id}/erase", data={"confirm_address": ADDRESS}
    )
    assert forged.status_code == 403
    db.expire_all()
    assert db.get(Subscriber, reader_id).erased_at is None  # neither changed anything

    done = admin_client.post(
        f"/admin/readers/{reader_id}/erase",
        data={"csrf_token": token, "confirm_address": f" {ADDRESS.upper()} "},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (
        303,
        f"/admin/readers/{reader_id}",
    )
    shown = admin_client.get(done.headers["location"])
    assert "Erased: the address and name are gone" in shown.text
    assert ADDRESS not in shown.text and NAME not in shown.text
    assert 'action="/admin/readers/' not in shown.text  # no second erase form
    again = admin_client.post(
        f"/admin/readers/{reader_id}/erase", data={"csrf_token": token, "confirm_address": ""}
    )
    assert again.status_code == 409 and "already erased" in again.text


def test_admin_reader_pages_for_unknown_readers_and_without_login(admin_client, client, db):
    assert admin_client.get("/admin/readers/999999").status_code == 404
    assert admin_client.get("/admin/readers/999999/export.json").status_code == 404
    token = csrf_of(admin_client.get("/admin/readers").text)
    missing = admin_client.post(
        "/admin/readers/999999/erase", data={"csrf_token": token, "confirm_address": "x"}
    )
    assert missing.status_code == 404 and "no reader 999999" in missing.text
    admin_client.cookies.clear()
    reader_id = add_reader(db)
    db.commit()
    for path in (f"/admin/readers/{reader_id}", f"/admin/readers/{reader_id}/export.json"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and "/admin/login" in response.headers["location"]


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def digest(tmp_path, monkeypatch):
    """Invoke `digest` against its own embedded database in an empty folder."""
    for name in [name for name in os.environ if name.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        get_settings.cache_clear()
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    invoke("migrate")
    yield invoke
    get_settings.cache_clear()


def test_digest_subscribers_export_data_and_erase(digest, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"email,name\n{ADDRESS},{NAME}\n", encoding="utf-8")
    assert (
        "created 1" in digest("subscribers", "import", str(sheet), "--consent-source", "s").output
    )
    exported = digest("subscribers", "export-data", "1")
    assert exported.exit_code == 0 and json.loads(exported.output)["address"] == ADDRESS
    asked = digest("subscribers", "erase", "1", input="n\n")
    assert asked.exit_code == 1 and "Aborted" in asked.output
    assert json.loads(digest("subscribers", "export-data", "1").output)["name"] == NAME
    erased = digest("subscribers", "erase", "1", "--yes")
    assert erased.exit_code == 0 and "reader 1 erased (unsubscribed)" in erased.output
    assert ADDRESS not in digest("subscribers", "export-data", "1").output
    again = digest("subscribers", "erase", "1", "--yes")
    assert again.exit_code == 1 and "already erased" in again.output
    assert "There is no reader 7" in digest("subscribers", "export-data", "7").output
    back = digest("subscribers", "import", str(sheet), "--consent-source", "s")
    assert "created 0" in back.output and "suppressed 1" in back.output


def test_the_admin_import_report_names_the_erased_address_it_skipped(admin_client, db, settings):
    reader_id = add_reader(db)
    erase_reader(db, reader_id, settings=settings, now=LATER, channel="admin")
    db.commit()
    token = csrf_of(admin_client.get("/admin/readers").text)
    sheet = f"email\nnew.one@example.org\n{ADDRESS}\n".encode()
    report = admin_client.post(
        "/admin/readers/import",
        data={"csrf_token": token, "consent_source": "sheet"},
        files={"file": ("sheet.csv", sheet, "text/csv")},
    )
    assert report.status_code == 200
    assert "Lines skipped: erased readers" in report.text
    skipped = report.text.split('class="import-skipped"')[1].split("</table>")[0]
    assert ADDRESS in skipped and "new.one@example.org" not in skipped
    db.expire_all()
    assert db.scalar(select(Subscriber).where(Subscriber.email == ADDRESS)) is None
