"""Liveness: the database answers and the broker accepts a connection."""

from __future__ import annotations

from kombu import Connection
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

OK = "ok"


def database_check(sessions: sessionmaker[Session]) -> str:
    """ "ok", or "error: <kind>" when the database does not answer a trivial query."""
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure is a failed check
        return f"error: {type(error).__name__}"
    return OK


def broker_check(url: str) -> str:
    """ "ok", or "error: <kind>" when the broker refuses a connection within two seconds."""
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # noqa: BLE001 - any failure is a failed check
        return f"error: {type(error).__name__}"
    return OK


def health(sessions: sessionmaker[Session], broker_url: str) -> dict[str, str]:
    """Each check by name ("database", "broker") with its outcome."""
    return {"database": database_check(sessions), "broker": broker_check(broker_url)}
