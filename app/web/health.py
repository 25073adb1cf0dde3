"""Liveness for load balancers and compose health checks: the database and the broker answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.tracking.health import OK, health
from app.web.deps import WebContext, context

router = APIRouter()


@router.get("/healthz")
def healthz(ctx: WebContext = Depends(context)) -> JSONResponse:
    """Liveness: the database answers and the broker accepts a connection."""
    checks = health(ctx.sessions, ctx.settings.celery_broker_url)
    healthy = all(value == OK for value in checks.values())
    return JSONResponse({"status": "ok" if healthy else "error", **checks}, 200 if healthy else 503)
