"""Readers as the JSON API shows them, and bulk imports as it takes them in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.clock import Timestamp
from app.errors import Invalid
from app.sections import split_key

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
    sections: list[str] = Field(description="keys of the sections the reader chose; [] = all")
    section_labels: list[str] = Field(
        default_factory=list, description="the labels of those sections today"
    )
    cadence: str = Field(description="weekly, or monthly (a monthly best-of)")
    paused_until: Timestamp | None = Field(description="no mail before this moment, if set")

    @field_validator("sections", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        """Stored as one selection key ("wind,policy"), shown as its keys."""
        return list(split_key(value)) if value is None or isinstance(value, str) else value


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
    suppressed: int = Field(description="rows refused because that reader was erased")
    errors: list[ImportProblem]
    skipped: list[ImportProblem] = Field(description="the suppressed rows, with the reason")


class ConsentEventOut(BaseModel):
    """One entry of a reader's consent record; after an erasure `address` is the keyed hash."""

    kind: str = Field(description="subscribe-request, confirm, import, unsubscribe, erased, …")
    at: Timestamp
    address: str
    ip: str | None
    user_agent: str | None
    channel: str
    consent_text_version: str | None
    detail: str | None = Field(default=None, description="what a preference change set")


class DeliveryRecordOut(BaseModel):
    """One issue mailed (or meant to be mailed) to the reader."""

    issue_id: int
    issue_week: str
    issue_subject: str
    state: str
    attempts: int
    sent_at: Timestamp | None
    last_error: str | None


class BounceRecordOut(BaseModel):
    """A late bounce or complaint reported for the reader."""

    kind: str
    status: str | None
    diagnostic: str | None
    source: str
    issue_week: str | None
    received_at: Timestamp


class ReaderExport(BaseModel):
    """Everything stored about one reader (SPEC §10 GDPR export); the field names are stable."""

    id: int
    address: str | None = Field(description="the address; null once the reader was erased")
    name: str | None
    status: str
    source: str
    created_at: Timestamp
    updated_at: Timestamp
    confirmed_at: Timestamp | None
    unsubscribed_at: Timestamp | None
    erased_at: Timestamp | None
    sections: list[str] = Field(description="keys of the sections chosen; [] = everything")
    cadence: str = Field(description="weekly, or monthly (a monthly best-of)")
    paused_until: Timestamp | None = Field(description="no mail before this moment, if set")
    address_hash: str | None = Field(description="the keyed hash kept after an erasure")
    exported_at: Timestamp
    consent_events: list[ConsentEventOut]
    deliveries: list[DeliveryRecordOut]
    bounce_events: list[BounceRecordOut]
    clicks: list[dict[str, Any]] = Field(
        description="always empty: clicks are counted per issue link, never per reader"
    )
    clicks_note: str


class ErasureOut(BaseModel):
    """What an erasure did; the address is gone, so only the hash names it."""

    model_config = ConfigDict(from_attributes=True)

    subscriber_id: int
    address_hash: str
    erased_at: Timestamp
    status: str = Field(description="unsubscribed, or bounced/complained if it was suppressed")
    consent_events: int = Field(description="consent records rewritten to the hash")
    deliveries: int = Field(description="delivery rows whose error text was cleared")
    bounce_events: int = Field(description="bounce reports whose diagnostic text was cleared")
    outbox_files: int = Field(description="copies of mail to the address deleted from the outbox")
