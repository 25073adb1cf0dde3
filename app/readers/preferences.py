"""A reader's own preferences, changed in their preference centre (`/manage/{token}`).

What a reader may set: the sections they get (none ticked = everything), weekly issues or a
monthly best-of, a pause of 1 to 8 weeks (and its end), or leaving. Each change that changes
something joins the consent record with a `detail` saying what was set; a save that changes
nothing records nothing. Every input is checked before anything is changed, so a refused
request leaves the reader as it found them. Services never commit.

Only readers on the list (pending or confirmed) have preferences to change: a reader who left,
bounced or complained is refused with `NotSubscribed` (409). Coming back needs the double
opt-in again, so the preference centre never resubscribes anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.models import Cadence, Subscriber, SubscriberStatus
from app.readers.subscriptions import Requester, record_consent, sections_detail, unsubscribe
from app.sections import Sections

MIN_PAUSE_WEEKS, MAX_PAUSE_WEEKS = 1, 8
CADENCES = {
    Cadence.WEEKLY: "weekly",
    Cadence.MONTHLY: "monthly best-of",
}


class InvalidCadence(Invalid):
    """A cadence other than weekly or monthly."""


class InvalidPause(Invalid):
    """A pause that is not a whole number of weeks from 1 to 8."""


class NotSubscribed(Conflict):
    """The reader is not on the list (left, bounced, complained): nothing to change."""


@dataclass(frozen=True)
class Preferences:
    """What a reader has chosen, as their page and the JSON answer show it."""

    email: str
    status: str
    sections: tuple[str, ...]  # today's section keys; () = everything
    labels: tuple[str, ...]
    cadence: str
    paused_until: datetime | None  # only while the pause lasts

    @property
    def summary(self) -> str:
        """ "Wind and Policy, weekly" — the line a confirmation repeats."""
        if not self.labels:
            chosen = "everything"
        elif len(self.labels) == 1:
            chosen = self.labels[0]
        else:
            chosen = ", ".join(self.labels[:-1]) + " and " + self.labels[-1]
        return f"{chosen}, {CADENCES.get(self.cadence, self.cadence)}"

    def as_json(self) -> dict[str, Any]:
        """The JSON answer of the preference centre."""
        return {
            "email": self.email,
            "status": self.status,
            "sections": list(self.sections),
            "section_labels": list(self.labels),
            "everything": not self.sections,
            "cadence": self.cadence,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
        }


def preferences_of(subscriber: Subscriber, sections: Sections, *, now: datetime) -> Preferences:
    """The reader's preferences as of `now` (a pause that ended shows as none)."""
    keys = sections.read_key(subscriber.sections)
    paused = subscriber.paused_until
    return Preferences(
        email=subscriber.email,
        status=subscriber.status,
        sections=keys,
        labels=tuple(sections.labels(keys)),
        cadence=subscriber.cadence,
        paused_until=paused if paused is not None and paused > now else None,
    )


def read_cadence(value: object) -> str:
    """ "weekly" or "monthly" (any case, trimmed); InvalidCadence otherwise."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in Cadence.ALL:
        shown = repr(value)[:40] if value is not None else "nothing"
        raise InvalidCadence(f"Choose how often: weekly or monthly, not {shown}.")
    return text


def read_weeks(value: object) -> int:
    """A pause length in whole weeks, 1 to 8; InvalidPause says what is allowed."""
    weeks: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        weeks = value
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 4:
        weeks = int(value.strip())
    if weeks is None or not MIN_PAUSE_WEEKS <= weeks <= MAX_PAUSE_WEEKS:
        shown = repr(value)[:40] if value not in (None, "") else "nothing"
        raise InvalidPause(
            f"Choose a pause of {MIN_PAUSE_WEEKS} to {MAX_PAUSE_WEEKS} weeks, not {shown}."
        )
    return weeks


def _on_the_list(subscriber: Subscriber) -> None:
    """Refuse a change for a reader who is not on the list, saying how to come back."""
    if subscriber.status in SubscriberStatus.SUBSCRIBED:
        return
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        raise NotSubscribed(
            "You are unsubscribed, so there are no preferences to change. "
            "Subscribe again on the front page; we will ask you to confirm."
        )
    raise NotSubscribed(
        "We stopped mailing this address because mail to it bounced or was reported as spam, "
        "so there are no preferences to change."
    )


def save_preferences(
    session: Session,
    subscriber: Subscriber,
    *,
    sections: Sections,
    topics: list[object] | None,
    cadence: object,
    requester: Requester,
    now: datetime,
) -> bool:
    """Set the reader's sections (an empty list = everything) and cadence; True if anything
    changed. `None` keeps what the reader has (a JSON client may send only one of them).

    Both are checked before either is set, so a bad cadence leaves the sections as they were."""
    _on_the_list(subscriber)
    current = sections.key_of(sections.read_key(subscriber.sections))
    selection = current if topics is None else sections.choose(topics)
    chosen_cadence = subscriber.cadence if cadence is None else read_cadence(cadence)
    if selection == current and chosen_cadence == subscriber.cadence:
        return False
    subscriber.sections = selection
    subscriber.cadence = chosen_cadence
    subscriber.updated_at = now
    detail = f"{sections_detail(selection)}; cadence: {chosen_cadence}"
    record_consent(session, subscriber, "preferences", requester, now, detail=detail)
    return True


def pause(
    session: Session, subscriber: Subscriber, *, weeks: object, requester: Requester, now: datetime
) -> datetime:
    """No mail for `weeks` weeks from now (a pause already running is replaced); its end."""
    _on_the_list(subscriber)
    length = read_weeks(weeks)
    until = now + timedelta(weeks=length)
    subscriber.paused_until = until
    subscriber.updated_at = now
    detail = f"pause: {length} week{'s' if length > 1 else ''}, until {until.date().isoformat()}"
    record_consent(session, subscriber, "pause", requester, now, detail=detail)
    return until


def resume(
    session: Session, subscriber: Subscriber, *, requester: Requester, now: datetime
) -> bool:
    """End a pause now; True if one was running (resuming an unpaused reader records nothing)."""
    _on_the_list(subscriber)
    if subscriber.paused_until is None or subscriber.paused_until <= now:
        return False
    ended = subscriber.paused_until
    subscriber.paused_until = None
    subscriber.updated_at = now
    detail = f"resume: the pause until {ended.date().isoformat()} ended early"
    record_consent(session, subscriber, "resume", requester, now, detail=detail)
    return True


def leave(session: Session, subscriber: Subscriber, *, requester: Requester, now: datetime) -> bool:
    """Unsubscribe from the preference centre: the same change and record as the unsubscribe
    link's; True if the reader was on the list. Repeating it is harmless."""
    return unsubscribe(session, subscriber=subscriber, requester=requester, now=now)


ACTIONS = ("save", "pause", "resume", "unsubscribe")


@dataclass(frozen=True)
class Change:
    """One change a reader asked for: its action and that action's fields, unchecked."""

    action: str
    topics: list[object] | None = None
    cadence: object = None
    weeks: object = None


def apply_change(
    session: Session,
    subscriber: Subscriber,
    change: Change,
    *,
    sections: Sections,
    requester: Requester,
    now: datetime,
) -> str:
    """Carry out one change; what happened: saved, unchanged, paused, resumed, not-paused,
    unsubscribed. An unknown action is refused (422) before anything is looked at."""
    who = {"requester": requester, "now": now}
    if change.action == "save":
        changed = save_preferences(
            session,
            subscriber,
            sections=sections,
            topics=change.topics,
            cadence=change.cadence,
            **who,
        )
        return "saved" if changed else "unchanged"
    if change.action == "pause":
        pause(session, subscriber, weeks=change.weeks, **who)
        return "paused"
    if change.action == "resume":
        return "resumed" if resume(session, subscriber, **who) else "not-paused"
    if change.action == "unsubscribe":
        if subscriber.status in SubscriberStatus.SUPPRESSED:
            _on_the_list(subscriber)  # already never mailed: leaving would claim a change
        leave(session, subscriber, **who)
        return "unsubscribed"
    raise Invalid(f"Unknown action {change.action!r:.40}; use one of {', '.join(ACTIONS)}.")
