"""Readers as the JSON API shows them, and bulk imports as it takes them in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.clock import Timestamp
from app.errors import Invalid

MAX_CONSENT_SOURCE = 80


def consent_source(value: Any) -> str:
    """Where imported readers gave consent, trimmed to 80 characters; Invalid if missing."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(
            "consent_source is required: say where these readers gave consent "
            "(e.g. 'event-signup-sheet-2026-10')"
        )
    return value.strip()[:MAX_CONSENT_SOURCE]


class SubscriberOut(BaseModel):
    """A reader as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str | None
    status: str = Field(description="pending, confirmed, unsubscribed, bounced or complained")
    source: str = Field(description="where the reader came from: the form, an import, …")
    created_at: Timestamp
    confirmed_at: Timestamp | None
    unsubscribed_at: Timestamp | None


class SubscriberPage(BaseModel):
    """`GET /api/subscribers`: one page of readers, newest first."""

    items: list[SubscriberOut]
    total: int
    limit: int
    offset: int


class ImportRowIn(BaseModel):
    """One reader to import. A row that is not an object, or has no usable address, is reported
    by its line in the answer, not refused with the whole import."""

    email: str = ""
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lenient(cls, data: Any) -> dict[str, Any]:
        row = data if isinstance(data, dict) else {}
        email, name = row.get("email"), row.get("name")
        return {
            "email": email if isinstance(email, str) else "",
            "name": name if isinstance(name, str) else None,
        }


class SubscriberImportIn(BaseModel):
    """`POST /api/subscribers/import` as JSON: where consent was given, and the readers."""

    consent_source: str = Field(
        description="where these readers gave consent, e.g. 'event-signup-sheet-2026-10'"
    )
    subscribers: list[ImportRowIn]

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("subscribers"), list):
            raise ValueError(
                'expected {"consent_source": "...", "subscribers": [{"email", "name"?}]}'
            )
        return {**data, "consent_source": consent_source(data.get("consent_source"))}

    def rows(self) -> list[tuple[int, str, str | None]]:
        """(line, email, name) for each reader, lines counted from 1."""
        return [(line, row.email, row.name) for line, row in enumerate(self.subscribers, 1)]


class ImportProblem(BaseModel):
    """A row that was not imported, and why."""

    line: int
    email: str
    reason: str


class ImportReportOut(BaseModel):
    """What an import did; bad rows are named by their line."""

    model_config = ConfigDict(from_attributes=True)

    created: int
    confirmed_existing: int
    unchanged: int
    errors: list[ImportProblem]
