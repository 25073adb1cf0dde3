"""Sample posts and readers for `digest serve --demo`, shifted so the newest week just ended."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.accounts import ensure_demo_admin
from app.config import Settings
from app.db import session_scope
from app.issues.drafts import draft_issue
from app.models import Subscriber
from app.posts.store import upsert_posts, validate_posts
from app.readers.importing import import_subscribers
from app.readers.subscriptions import normalise_email
from app.weeks import last_complete_week, week_window

DEMO_DIR = Path(__file__).parent
NEWEST_DEMO_WEEK = "2026-W48"  # the newest week in posts.json


def demo_posts(now: datetime) -> list[dict]:
    """The demo posts, moved by whole weeks so their newest week is the last complete one."""
    shift = week_window(last_complete_week(now))[0] - week_window(NEWEST_DEMO_WEEK)[0]
    posts = json.loads((DEMO_DIR / "posts.json").read_text(encoding="utf-8"))
    for post in posts:
        published = datetime.fromisoformat(post["published_at"]) + shift
        post["published_at"] = published.isoformat()
    return posts


def _demo_rows() -> list[dict[str, str]]:
    with (DEMO_DIR / "subscribers.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def demo_readers() -> list[tuple[int, str, str | None]]:
    return [(number, row["email"], row.get("name")) for number, row in enumerate(_demo_rows(), 2)]


def _demo_sections(session: Session, settings: Settings, *, now: datetime) -> None:
    """Give the demo readers the sections the CSV names, once: a reader who changed their
    choice in the preference centre keeps it on the next start."""
    for row in _demo_rows():
        wanted = settings.sections.choose([k for k in (row.get("sections") or "").split(",") if k])
        reader = session.scalar(
            select(Subscriber).where(
                Subscriber.email == normalise_email(row["email"], check_deliverability=False)
            )
        )
        if reader is not None and wanted and reader.sections == "" and reader.created_at == now:
            reader.sections = wanted


def load_demo(settings: Settings) -> tuple[list[str], tuple[str, str]]:
    """Load the demo (idempotent: posts upsert by URL, readers are imported once) and draft the
    issue of the last complete week. Returns lines to print for the newcomer, and the demo
    admin's login (email, password), which `serve` prints last, once the service is up."""
    now = clock.now()
    week = last_complete_week(now)
    with session_scope(settings.sqlalchemy_url) as session:
        posts = upsert_posts(session, validate_posts(demo_posts(now)), now=now)
        readers = import_subscribers(
            session,
            rows=demo_readers(),
            consent_source="demo-data",
            now=now,
            keys=settings.signing_keys(),
        )
        _demo_sections(session, settings, now=now)
        issue = draft_issue(session, week=week, now=now, settings=settings)
        lines = [
            f"demo: {posts['created']} posts added, {posts['updated']} refreshed; "
            f"{readers.created} demo readers added",
            f"demo: draft issue #{issue.id} for {week} with {len(issue.items)} posts "
            f"(see `digest rank --week {week}`)",
        ]
        login = ensure_demo_admin(session, now=now, var_dir=settings.var_dir)
    return lines, login
