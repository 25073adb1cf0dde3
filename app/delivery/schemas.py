"""Sending as the JSON API shows it: a send's progress, previews and test copies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.issues.mail import MAX_TEST_RECIPIENTS, PREVIEW_FORMATS
from app.readers.subscriptions import InvalidAddress, normalise_email


def _preview_format(value: str) -> str:
    if value not in PREVIEW_FORMATS:
        raise ValueError(f"format must be {' or '.join(PREVIEW_FORMATS)}, not {value!r}")
    return value


# `?format=` of a preview: the HTML part or the text part, as a reader's mail shows them.
PreviewFormat = Annotated[
    str,
    AfterValidator(_preview_format),
    Field(json_schema_extra={"enum": list(PREVIEW_FORMATS)}),
]


class Progress(BaseModel):
    """An issue's send: its status and its ledger counted by state."""

    model_config = ConfigDict(extra="allow")

    id: int
    status: str = Field(description="draft, sending, paused, sent or cancelled")
    pause_reason: str | None
    total: int = Field(description="readers the send goes to")
    pending: int
    sending: int
    sent: int
    failed: int
    bounced: int
    unknown: int
    skipped: int = Field(description="not sent: the reader left before their copy went")
    cancelled: int = Field(description="not sent: the send was cancelled first")
    done: bool = Field(description="nothing more will go out (sent or cancelled)")


class TestCopiesIn(BaseModel):
    """`POST /api/issues/{id}/test` body: 1 to 10 addresses for a marked test copy."""

    emails: list[str] = Field(
        description=f"1 to {MAX_TEST_RECIPIENTS} addresses; normalised, duplicates dropped"
    )

    @model_validator(mode="before")
    @classmethod
    def _addresses(cls, data: Any) -> dict[str, list[str]]:
        emails = data.get("emails") if isinstance(data, dict) else None
        if not isinstance(emails, list) or not 1 <= len(emails) <= MAX_TEST_RECIPIENTS:
            raise ValueError(f'send {{"emails": [...]}} with 1 to {MAX_TEST_RECIPIENTS} addresses')
        addresses: list[str] = []
        problems = []
        for raw in emails:
            try:
                address = normalise_email(raw if isinstance(raw, str) else "")
            except InvalidAddress as error:
                problems.append(f"{raw!r}: {error.reason}")
                continue
            if address not in addresses:
                addresses.append(address)
        if problems:
            raise ValueError("invalid addresses: " + "; ".join(problems))
        return {"emails": addresses}


class TestCopiesSent(BaseModel):
    """The test copies that went out."""

    sent: list[str]
    subject: str
