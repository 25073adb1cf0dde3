"""Engine, session scope, and "enqueue after commit" so no task runs before its rows exist."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app import config, jobs

_PENDING = "digest_pending_tasks"
# None: publish through a broker app for the configured settings (`jobs.default_publisher`).
_publisher: jobs.Publisher | None = None


def set_publisher(publisher: jobs.Publisher | None) -> None:
    """Choose how tasks are published: the worker's own Celery app, or a test's collector.

    `None` goes back to the default, a Celery app on the configured broker made on first use.
    """
    global _publisher
    _publisher = publisher


def _publish(name: str, args: tuple[Any, ...], countdown: float | None = None) -> None:
    publisher = _publisher or jobs.default_publisher()
    if countdown is None:  # so a collector that never sees a delayed task may take two arguments
        publisher(name, args)
    else:
        publisher(name, args, countdown=countdown)


def publish(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """Publish a task now, or after `countdown` seconds (for task code outside a transaction)."""
    _publish(task_name, args, countdown)


def enqueue(session: Session, task_name: str, *args: Any) -> None:
    """Publish `task_name(*args)` once this session's transaction commits; drop it on rollback."""
    session.info.setdefault(_PENDING, []).append((task_name, args))


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    for name, args in session.info.pop(_PENDING, []):
        _publish(name, args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the SQLite settings a multi-process service needs (WAL, busy timeout, FKs)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_database(Path(path))
        # The pool hands a connection to one thread at a time: the thread check only hinders.
        connect_args = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        writer = _SQLiteWriter(timeout=30)
        event.listen(engine, "begin", writer.begin)
        event.listen(engine, "commit", writer.commit)
        event.listen(engine, "rollback", writer.rollback)
        event.listen(engine.pool, "checkin", writer.release_record)
        return engine
    if "poolclass" not in kwargs:  # enough connections for the API's thread pool
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _private_database(path: Path) -> None:
    """The SQLite file made 0600 before SQLite opens it: its -wal and -shm files take the
    database's mode, and a folder made here is 0700. Readers' addresses are in there."""
    if not path.parent.exists():
        config.private_folder(path.parent)
    config.private_file(path)
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if side.exists():
            config.private_file(side)  # left open by an older install


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, begin transactions: pysqlite's own handling breaks SAVEPOINTs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class _SQLiteWriter:
    """One SQLite transaction at a time per process, each holding the write lock from BEGIN.

    With a deferred BEGIN, a transaction that read first and writes second fails at once
    ("database is locked") when another writer committed in between; SQLite's busy timeout does
    not help there. BEGIN IMMEDIATE avoids that, and the in-process lock makes this process's
    threads queue in turn instead of sleeping in SQLite's busy handler.
    """

    _HELD = "digest_sqlite_write_lock"

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._timeout = timeout

    def begin(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=self._timeout):
            raise TimeoutError(f"SQLite stayed busy for {self._timeout} s")
        connection.info[self._HELD] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.release(connection)
            raise

    def commit(self, connection: Any) -> None:
        # This event fires before the driver commits; commit here so the lock is released only
        # once the data is in (the driver's own commit then finds no transaction: a no-op).
        self._finish(connection, "COMMIT")

    def rollback(self, connection: Any) -> None:
        self._finish(connection, "ROLLBACK")

    def _finish(self, connection: Any, statement: str) -> None:
        try:
            if connection.connection.dbapi_connection.in_transaction:
                connection.exec_driver_sql(statement)
        finally:
            self.release(connection)

    def release(self, connection: Any) -> None:
        if connection.info.pop(self._HELD, False):
            self._lock.release()

    def release_record(self, _dbapi_connection: Any, record: Any) -> None:
        """A connection returned to the pool mid-transaction must not keep the lock."""
        if record.info.pop(self._HELD, False):
            self._lock.release()


@lru_cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process."""
    return make_engine(url)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """Sessions bound to `url`, by default the configured database."""
    url = url or config.get_settings().sqlalchemy_url
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(
    url: str | None = None, *, sessions: sessionmaker[Session] | None = None
) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error (tasks, CLI and requests use it)."""
    session = (sessions or session_factory(url))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
