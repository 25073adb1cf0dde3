"""What embedded mode keeps under var/ is readable by the service's user only (issue 11, 8c).

The database holds readers' addresses, the key signs every link, the outbox holds whole mails:
0600 files in 0700 folders, whatever the umask, and tightened when an older install left them
open."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import make_engine
from app.delivery.outbox import OutboxTransport
from app.jobs import broker_app


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: files 0644, folders 0755
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_generated_secret_key_and_var_are_private(tmp_path):
    settings = Settings(var_dir=tmp_path / "var")
    settings.signing_keys()
    assert _mode(tmp_path / "var") == 0o700
    assert _mode(tmp_path / "var" / "secret_key") == 0o600


def test_the_sqlite_database_and_its_wal_are_private(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'digest.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x integer)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        files = sorted((tmp_path / "var").iterdir())
        assert {path.name for path in files} >= {"digest.db", "digest.db-wal"}
        assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
    engine.dispose()
    assert _mode(tmp_path / "var") == 0o700


def test_an_existing_open_database_is_tightened(tmp_path):
    (tmp_path / "var").mkdir(mode=0o755)
    (tmp_path / "var" / "digest.db").touch(mode=0o644)
    make_engine(f"sqlite:///{tmp_path / 'var' / 'digest.db'}").dispose()
    assert _mode(tmp_path / "var" / "digest.db") == 0o600


def test_outbox_messages_and_folder_are_private(tmp_path):
    with OutboxTransport(tmp_path / "var" / "outbox") as outbox:
        path = outbox.write(sender="a@example.org", recipient="b@example.org", message=b"Hi\r\n")
    assert _mode(tmp_path / "var" / "outbox") == 0o700
    assert _mode(path) == 0o600


def test_the_embedded_broker_database_is_private(tmp_path):
    broker_app(Settings(var_dir=tmp_path / "var"))
    assert _mode(tmp_path / "var") == 0o700
    assert _mode(tmp_path / "var" / "broker.db") == 0o600
