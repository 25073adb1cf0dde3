"""The weekly beat job (SPEC §7): draft the issue of the week that just ended; autosend it."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from app import jobs
from app.config import Settings
from app.db import enqueue
from app.issues.drafts import draft_issue
from app.issues.errors import IssueLocked
from app.weeks import last_complete_week

log = logging.getLogger(__name__)


def draft_weekly(session: Session, *, now: datetime, settings: Settings) -> int | None:
    """Draft or refresh last week's issue; with DIGEST_AUTOSEND, queue its send. Its id.

    None when the issue is no longer a draft (a second beat run, or an editor sent it already):
    there is nothing more to do, and nothing was written.
    """
    week = last_complete_week(now)
    try:
        issue = draft_issue(session, week=week, now=now, settings=settings)
    except IssueLocked as error:
        log.info("weekly draft skipped: %s", error)
        return None
    # An empty week sends nothing (SPEC §7.6); the draft's note says why.
    if settings.autosend and issue.items:
        enqueue(session, jobs.START_SEND, issue.id)
    return issue.id
