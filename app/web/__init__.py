"""The FastAPI application: public pages, the admin UI and the JSON API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker

from app.config import Settings, get_settings
from app.db import engine_for
from app.tokens import Signer
from app.web import admin, api, archive, errors, health, mail_links, manage, public, webhooks
from app.web.deps import WebContext, make_limiter
from app.web.headers import SecurityHeaders

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (the process settings when omitted)."""
    settings = settings or get_settings()
    app = FastAPI(title="Weekly Digest", version="0.1.0", docs_url="/api/docs", redoc_url=None)
    app.state.digest = WebContext(
        settings=settings,
        sessions=sessionmaker(engine_for(settings.sqlalchemy_url), expire_on_commit=False),
        signer=Signer(settings.signing_keys()),
        limiter=make_limiter(settings),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(public.router)
    app.include_router(health.router)
    app.include_router(mail_links.router)
    app.include_router(manage.router)  # the reader's preference centre
    app.include_router(archive.router)
    app.include_router(api.router)
    webhooks.install(app)  # POST /webhooks/bounces/{provider}, called by mail providers
    admin.install(app)  # the admin pages and /metrics
    errors.install(app)  # domain errors and unreadable requests, answered alike
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, no framing on every answer
    return app
