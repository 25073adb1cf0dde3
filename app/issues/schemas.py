"""Issues as the JSON API shows them (SPEC §6 issue JSON), and the edits it takes in."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.clock import Timestamp
from app.posts.schemas import PostOut


class _Body(BaseModel):
    """A JSON object as a request body; an unknown field is named, with the fields it knows."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        if unknown := sorted(set(data) - set(cls.model_fields)):
            allowed = ", ".join(cls.model_fields)
            raise ValueError(f"unknown fields: {', '.join(unknown)} (allowed: {allowed})")
        return data


class DraftIn(_Body):
    """`POST /api/issues` body (may be empty): the ISO week to rank and draft."""

    week: str | None = Field(
        default=None,
        examples=["2026-W48"],
        description="default: the last complete ISO week; a week not yet begun is refused",
    )

    @field_validator("week", mode="before")
    @classmethod
    def _week(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError('week must be a string like "2026-W48"')
        return value


PostId = Annotated[int, Field(gt=0, strict=True)]


class IssueEditIn(_Body):
    """`PATCH /api/issues/{id}` body: what to change on a draft; any list re-ranks it."""

    pin: list[PostId] | None = Field(default=None, description="posts that must be in")
    drop: list[PostId] | None = Field(default=None, description="posts that must be out")
    unpin: list[PostId] | None = None
    undrop: list[PostId] | None = None
    subject: str | None = None
    intro: str | None = None

    @field_validator("subject", "intro", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{info.field_name} must be a string")
        return value

    @field_validator("pin", "drop", "unpin", "undrop", mode="before")
    @classmethod
    def _post_ids(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(item, int) and not isinstance(item, bool) and item > 0 for item in value
        ):
            raise ValueError(f"{info.field_name} must be a list of post ids")
        return value

    @model_validator(mode="after")
    def _something(self) -> IssueEditIn:
        if not self.model_fields_set:
            raise ValueError(f"send at least one of: {', '.join(type(self).model_fields)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the editor sent, by name."""
        return self.model_dump(include=self.model_fields_set)


class DeliveryCounts(BaseModel):
    """An issue's ledger by state; `pending` includes messages being sent."""

    model_config = ConfigDict(extra="allow")

    total: int
    pending: int
    sent: int
    failed: int
    bounced: int
    unknown: int
    skipped: int = Field(description="not sent: the reader left before their copy went")
    cancelled: int = Field(description="not sent: the send was cancelled first")


class IssueItemOut(BaseModel):
    """A listed post with its rank, score and the reasons behind them."""

    rank: int
    score: float
    reasons: dict[str, Any]
    clicks: int = Field(description="readers' clicks on it in the mailed issue")
    sections: list[str] = Field(
        default_factory=list,
        examples=[["solar-storage", "policy"]],
        description="the keys of the reader sections (DIGEST_SECTIONS) its story is in",
    )
    post: PostOut


class SegmentOut(BaseModel):
    """One rendering of an issue: the readers who chose the same sections and frequency."""

    number: int = Field(description="0 is the overall list for weekly readers of everything")
    sections: list[str] = Field(description="the section keys chosen; [] = everything")
    cadence: str = Field(examples=["weekly", "monthly"])
    readers: int
    items: list[int] = Field(description="post ids, in mail order")


class ExcludedOut(BaseModel):
    """A post of the week the ranking left out, and why."""

    post_id: int
    title: str | None
    reason: str = Field(examples=["off-topic", "duplicate-of:12", "source-cap:Reuters"])


class IssueOut(BaseModel):
    """An issue with its items and delivery counts (SPEC §6)."""

    id: int
    week: str
    status: str = Field(description="draft, sending, paused, sent or cancelled")
    subject: str
    intro: str
    note: str | None = Field(description="why the issue lists fewer posts, if it does")
    pins: list[int]
    drops: list[int]
    items: list[IssueItemOut]
    counts: DeliveryCounts
    created_at: Timestamp | None
    ranked_at: Timestamp | None
    sent_at: Timestamp | None
    pause_reason: str | None
    excluded: list[ExcludedOut] | None = Field(
        default=None, description="drafts only: the posts left out (the first 500), and why"
    )
    excluded_counts: dict[str, int] | None = Field(
        default=None, description="drafts only: how many posts were left out, by reason"
    )
    ranking_current: bool | None = Field(
        default=None,
        description="drafts only: false when posts changed since the draft was ranked",
    )
    segments: list[SegmentOut] | None = Field(
        default=None,
        description="one issue's answers: who gets which list — for a draft, if sent now;"
        " otherwise as fixed when the send started ([] for sends from before sections)",
    )


class IssuePage(BaseModel):
    """`GET /api/issues`: one page of issues, newest week first."""

    items: list[IssueOut]
    total: int
    limit: int
    offset: int
