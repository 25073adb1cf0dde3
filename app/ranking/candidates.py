"""A post of the week as ranking sees it: plain values, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.weeks import require_aware


@dataclass(frozen=True, slots=True)
class Candidate:
    """A post of the week as ranking sees it; `published_at` must be timezone-aware."""

    id: int
    url: str
    title: str
    summary: str
    source: str
    topics: tuple[str, ...]
    published_at: datetime
    views: int
    likes: int
    shares: int
    comments: int

    def __post_init__(self) -> None:
        require_aware(self.published_at, f"post {self.id} published_at")
        for name in ("views", "likes", "shares", "comments"):
            if getattr(self, name) < 0:
                raise ValueError(f"post {self.id}: {name} cannot be negative")

    @property
    def has_metrics(self) -> bool:
        """Whether any counter was reported; a feed-polled post has none (all zero)."""
        return bool(self.views or self.likes or self.shares or self.comments)
