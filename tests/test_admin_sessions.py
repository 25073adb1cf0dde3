"""Admin login sessions kept server-side: logout, "log out everywhere", password change, expiry."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from app import clock
from app.accounts import create_admin, open_session, session_admin
from app.db import make_engine
from app.migrate import alembic_config, upgrade
from app.models import AdminLogin, AdminUser, Base
from app.tokens import ADMIN_SESSION
from tests.conftest import create_postgres_database, drop_postgres_database, needs_postgres
from tests.test_admin import EMAIL, PASSWORD, log_in, token
from tests.test_cli import run  # noqa: F401 - a fixture, used by name below
from tests.test_issues import NOW

OTHER_EMAIL = "second@example.org"


@pytest.fixture
def editor(db):
    admin = create_admin(db, email=EMAIL, password=PASSWORD, now=NOW)
    db.commit()
    return admin


def session_cookie(client: TestClient) -> str:
    value = client.cookies.get("digest_admin")
    assert value, "no session cookie"
    return value


def opens_admin(app, cookie: str) -> bool:
    """Whether a browser that only holds `cookie` gets into /admin."""
    with TestClient(app, cookies={"digest_admin": cookie}) as other:
        response = other.get("/admin", follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


@pytest.fixture
def logged_in(client, editor, frozen_clock):
    assert log_in(client).status_code == 303
    return client


def test_an_old_cookie_no_longer_opens_the_admin_after_logout(app, logged_in):
    cookie = session_cookie(logged_in)
    assert opens_admin(app, cookie)
    response = logged_in.post(
        "/admin/logout", data={"csrf_token": token(logged_in)}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
    assert not opens_admin(app, cookie)  # replayed by hand: the server knows it ended


def test_the_table_keeps_a_hash_of_the_session_id_and_who_logged_in(app, db, logged_in, editor):
    cookie = session_cookie(logged_in)
    sid = app.state.digest.signer.loads(ADMIN_SESSION, cookie)
    row = db.scalar(select(AdminLogin))
    assert row.admin_id == editor.id and row.revoked_at is None
    assert row.token_hash == hashlib.sha256(sid.encode()).hexdigest()
    assert sid not in repr([getattr(row, column.key) for column in AdminLogin.__table__.columns])
    assert (row.created_at, row.last_seen_at, row.expires_at) == (
        NOW,
        NOW,
        NOW + timedelta(hours=12),
    )
    assert row.ip == "testclient" and row.user_agent == "testclient"


def test_log_out_everywhere_ends_every_session_of_this_admin_only(app, db, logged_in):
    create_admin(db, email=OTHER_EMAIL, password=PASSWORD, now=NOW)
    db.commit()
    with TestClient(app) as laptop, TestClient(app) as colleague:
        assert log_in(laptop).status_code == 303
        assert log_in(colleague, email=OTHER_EMAIL).status_code == 303
        page = logged_in.get("/admin")
        assert 'action="/admin/logout-everywhere"' in page.text
        response = logged_in.post(
            "/admin/logout-everywhere",
            data={"csrf_token": token(logged_in)},
            follow_redirects=False,
        )
        assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
        assert logged_in.get("/admin", follow_redirects=False).status_code == 303
        assert laptop.get("/admin", follow_redirects=False).status_code == 303
        assert colleague.get("/admin", follow_redirects=False).status_code == 200
    revoked = db.scalars(select(AdminLogin.revoked_at).where(AdminLogin.revoked_at.is_not(None)))
    assert list(revoked) == [NOW, NOW]


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_log_out_everywhere_without_this_sessions_csrf_token_changes_nothing(app, logged_in, csrf):
    data = {} if csrf is None else {"csrf_token": csrf}
    response = logged_in.post("/admin/logout-everywhere", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert opens_admin(app, session_cookie(logged_in))


def test_a_new_password_revokes_the_admins_sessions_in_the_table(app, db, logged_in):
    cookie = session_cookie(logged_in)
    create_admin(db, email=EMAIL, password="a brand new password", now=NOW + timedelta(minutes=1))
    db.commit()
    assert db.scalar(select(AdminLogin.revoked_at)) == NOW + timedelta(minutes=1)
    assert not opens_admin(app, cookie)
    assert log_in(logged_in, password="a brand new password").status_code == 303


def test_a_tampered_cookie_is_refused(app, logged_in):
    cookie = session_cookie(logged_in)
    flipped = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    assert not opens_admin(app, flipped)
    assert not opens_admin(app, cookie + "x")


def test_a_well_signed_cookie_for_a_session_the_server_never_opened_is_refused(app, logged_in):
    signer = app.state.digest.signer
    assert not opens_admin(app, signer.dumps(ADMIN_SESSION, "made-up-session-id", now=NOW))


def test_a_cookie_of_the_old_stateless_format_is_refused(app, logged_in, editor):
    """Cookies issued before 0004 carried the admin id and a password fingerprint."""
    fingerprint = hashlib.sha256(editor.password_hash.encode()).hexdigest()[:16]
    stale = {"a": editor.id, "s": "old-session", "h": fingerprint}
    signer = app.state.digest.signer
    assert not opens_admin(app, signer.dumps(ADMIN_SESSION, stale, now=NOW))


def test_an_expired_session_is_refused_and_swept_at_the_next_login(
    app, db, logged_in, frozen_clock
):
    cookie = session_cookie(logged_in)
    frozen_clock.now = NOW + timedelta(hours=11, minutes=59)
    assert opens_admin(app, cookie)
    frozen_clock.now = NOW + timedelta(hours=12, minutes=1)
    assert not opens_admin(app, cookie)
    assert len(db.scalars(select(AdminLogin)).all()) == 1
    with TestClient(app) as fresh:
        assert log_in(fresh).status_code == 303
    db.expire_all()
    rows = db.scalars(select(AdminLogin)).all()
    assert [row.created_at for row in rows] == [frozen_clock.now]  # the expired row is gone


def test_last_seen_moves_at_most_once_a_minute(app, db, logged_in, frozen_clock):
    frozen_clock.now = NOW + timedelta(seconds=30)
    logged_in.get("/admin")
    db.expire_all()
    assert db.scalar(select(AdminLogin.last_seen_at)) == NOW
    frozen_clock.now = NOW + timedelta(minutes=5)
    logged_in.get("/admin")
    db.expire_all()
    assert db.scalar(select(AdminLogin.last_seen_at)) == NOW + timedelta(minutes=5)


# --- per-account login limit ----------------------------------------------------------------------


def test_ten_failures_for_one_account_lock_it_for_everyone_with_retry_after(
    settings, sessions, editor, frozen_clock
):
    from app.web import create_app

    app = create_app(settings.model_copy(update={"login_rate": "1000/minute"}))
    app.state.digest.sessions = sessions
    with TestClient(app) as client:
        for _ in range(10):
            assert (
                log_in(client, email=EMAIL.upper(), password="wrong password!").status_code == 401
            )
        refused = log_in(client)  # the right password, from any address, waits too
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Too many login attempts" in refused.text
        assert client.get("/admin", follow_redirects=False).status_code == 303
        # Another account is not affected, and a wrong guess against it is still a plain 401.
        assert log_in(client, email="nobody@example.org", password="x" * 12).status_code == 401


def test_good_logins_do_not_count_toward_the_account_limit(
    settings, sessions, editor, frozen_clock
):
    from app.web import create_app

    app = create_app(settings.model_copy(update={"login_rate": "1000/minute"}))
    app.state.digest.sessions = sessions
    with TestClient(app) as client:
        for _ in range(12):
            client.cookies.clear()
            assert log_in(client).status_code == 303


# --- the migration --------------------------------------------------------------------------------


def test_the_model_matches_the_migrated_table(db):
    context = MigrationContext.configure(db.connection())
    differences = [
        diff for diff in compare_metadata(context, Base.metadata) if "admin_sessions" in repr(diff)
    ]
    assert differences == []
    columns = {c["name"] for c in inspect(db.connection()).get_columns("admin_sessions")}
    assert columns == {
        "id",
        "token_hash",
        "admin_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "revoked_at",
        "ip",
        "user_agent",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[needs_postgres])])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_postgres_database("sessions")
    yield url
    drop_postgres_database(url)


def test_the_migration_goes_down_to_0003_and_up_again(fresh_url):
    engine = make_engine(fresh_url)

    def tables() -> set[str]:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())

    try:
        upgrade(fresh_url)
        assert {"admin_sessions", "admin_users"} <= tables()
        command.downgrade(alembic_config(fresh_url), "0003")
        assert "admin_sessions" not in tables() and "admin_users" in tables()
        upgrade(fresh_url)
        assert "admin_sessions" in tables()
    finally:
        engine.dispose()


# --- Secure cookies (issue 11 item 8) ------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://news.example.org", "http://news.example.org"])
def test_every_cookie_is_secure_exactly_when_the_base_url_is_https(
    settings, sessions, editor, frozen_clock, base
):
    from app.web import create_app

    app = create_app(settings.model_copy(update={"base_url": base}))
    app.state.digest.sessions = sessions
    with TestClient(app, base_url="https://testserver") as client:
        answers = {
            "digest_csrf": client.get("/"),
            "digest_admin_login": client.get("/admin/login"),
            "digest_admin": log_in(client),
        }
        data = {"csrf_token": token(client)}
        answers["digest_admin="] = client.post("/admin/logout", data=data, follow_redirects=False)
    for name, answer in answers.items():
        cookies = [c for c in answer.headers.get_list("set-cookie") if c.startswith(name)]
        assert cookies, (name, answer.headers)
        for cookie in cookies:
            assert ("; secure" in cookie.lower()) is base.startswith("https://"), cookie


def test_a_password_reset_from_the_cli_ends_the_admins_sessions(run, tmp_path):  # noqa: F811
    assert run("admin", "create", EMAIL, input=f"{PASSWORD}\n").exit_code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'digest.db'}")
    try:
        with Session(engine) as db:
            admin = db.scalar(select(AdminUser))
            now = clock.now()  # the command reads the real clock
            sid = open_session(db, admin=admin, now=now, ip="192.0.2.1", user_agent="laptop")
            db.commit()
        assert run("admin", "create", EMAIL, input="another long password\n").exit_code == 0
        with Session(engine) as db:
            assert db.scalar(select(AdminLogin.revoked_at)) is not None
            assert session_admin(db, sid=sid, now=now) is None
    finally:
        engine.dispose()
