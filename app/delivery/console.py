"""`digest send ISSUE_ID`: start a send and watch it with a progress bar until it is done."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from app import clock
from app.config import Settings
from app.db import session_scope
from app.delivery.control import progress
from app.delivery.engine import start_send
from app.models import DeliveryState, IssueStatus
from app.tracking.sends import send_progress


def _snapshot(settings: Settings, issue_id: int) -> dict[str, Any]:
    with session_scope(settings.sqlalchemy_url) as session:
        return progress(session, issue_id)


def send_with_progress(
    issue_id: int,
    *,
    settings: Settings,
    echo: Callable[[str], Any] = click.echo,
    every: float = 0.5,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Start (or join) the send, show a bar until the issue is sent, paused or cancelled.

    The workers do the sending; this only polls `progress()`. Returns the final counts.
    """
    with session_scope(settings.sqlalchemy_url) as session:
        started = start_send(session, issue_id=issue_id, now=clock.now(), settings=settings)
    state = _snapshot(settings, issue_id)
    echo(
        f"Issue {issue_id}: {'started' if started else 'already ' + state['status']}, "
        f"{state['total']} readers"
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    with click.progressbar(length=state["total"], label="Sending", show_pos=True) as bar:
        shown = 0
        while True:
            done = sum(state[key] for key in DeliveryState.TERMINAL)
            bar.update(done - shown)
            shown = done
            if state["done"] or state["status"] == IssueStatus.PAUSED:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(every)
            state = _snapshot(settings, issue_id)
    if state["status"] == IssueStatus.PAUSED:
        echo(f"Paused: {state['pause_reason']} (resume with POST /api/issues/{issue_id}/resume)")
    with session_scope(settings.sqlalchemy_url) as session:
        told = send_progress(session, issue_id=issue_id)
    if told["status"] != IssueStatus.SENDING:  # still sending: the bar said how far it got
        echo(told["summary"])
    if told["not_sent"]:
        echo(
            f"Send to the rest on {settings.public_base_url}/admin/issues/{issue_id}/progress "
            f"or with POST /api/issues/{issue_id}/send-remaining"
        )
    shown = ("total", *DeliveryState.TERMINAL, DeliveryState.PENDING, DeliveryState.CANCELLED)
    counts = ", ".join(f"{key} {state[key]}" for key in shown)
    echo(f"Issue {issue_id} {state['status']}: {counts}")
    return state
