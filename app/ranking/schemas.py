"""Sources as the JSON API shows them, and the editor's weight as it takes it in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.models import SourceWeight
from app.ranking.sources import CLICK_WEEKS, MAX_WEIGHT, MIN_WEIGHT, SourceRow


class WeightIn(BaseModel):
    """`PUT /api/sources/{source}` body: the editor's weight, 0 (listed only if pinned) to 10."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(
        ge=MIN_WEIGHT,
        le=MAX_WEIGHT,
        allow_inf_nan=False,
        strict=True,
        description="1 is the default; 2 counts the source's stories twice; 0 lists them only "
        "when pinned",
    )


class SourceOut(BaseModel):
    """One source: its posts in the window, weight, and what readers' clicks say about it."""

    source: str
    weight: float
    weight_set: bool = Field(description="an editor set this weight (else the default 1)")
    posts: int = Field(description="posts published in the last `weeks` weeks")
    click_prior: float | None = Field(
        description="how readers clicked this source's items in mailed issues against the "
        "usual for their positions, shrunk toward 1 (1.8 = 1.8x the usual); null when it was "
        "never listed in them"
    )
    listed: int = Field(description=f"its items in issues mailed in the last {CLICK_WEEKS} weeks")
    clicks: int = Field(description="clicks on those items")

    @classmethod
    def of(cls, row: SourceRow) -> SourceOut:
        """The answer for one row of `source_table`."""
        return cls(
            source=row.name,
            weight=row.weight,
            weight_set=row.weight_set,
            posts=row.posts,
            click_prior=row.click_prior,
            listed=row.listed,
            clicks=row.clicks,
        )


class SourcesOut(BaseModel):
    """`GET /api/sources`: every source with recent posts, a weight, or items in mailed issues."""

    weeks: int
    sources: list[SourceOut]

    @classmethod
    def of(cls, rows: Iterable[SourceRow], *, weeks: int) -> SourcesOut:
        """The answer for `source_table`'s rows over `weeks` weeks."""
        return cls(weeks=weeks, sources=[SourceOut.of(row) for row in rows])


class SourceWeightOut(BaseModel):
    """A stored weight."""

    source: str
    key: str = Field(description="how the ranking matches it: the name stripped and casefolded")
    weight: float
    updated_at: datetime

    @classmethod
    def of(cls, row: SourceWeight) -> SourceWeightOut:
        """The answer for a stored weight."""
        return cls(
            source=row.name, key=row.source_key, weight=row.weight, updated_at=row.updated_at
        )
