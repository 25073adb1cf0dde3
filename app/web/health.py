"""Liveness for load balancers and compose health checks: the database and the broker answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from kombu import Connection
from sqlalchemy import text

from app.web.deps import WebContext, context

router = APIRouter()


@router.get("/healthz")
def healthz(ctx: WebContext = Depends(context)) -> JSONResponse:
    """Liveness: the database answers and the broker accepts a connection."""
    checks: dict[str, str] = {}
    try:
        with ctx.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure is a failed check
        checks["database"] = f"error: {type(error).__name__}"
    checks["broker"] = _broker_check(ctx.settings.celery_broker_url)
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if healthy else "error", **checks}, 200 if healthy else 503)


def _broker_check(url: str) -> str:
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as error:  # noqa: BLE001
        return f"error: {type(error).__name__}"
