"""The schema as SQLAlchemy models; the tables themselves exist only through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum, nonmember
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without zone (SQLite has none) and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SubscriberStatus(StrEnum):
    """A reader's place in the subscription state machine (SPEC §10), as stored."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # a spam complaint (SPEC §9): suppresses like a hard bounce

    ALL = nonmember((PENDING, CONFIRMED, UNSUBSCRIBED, BOUNCED, COMPLAINED))
    # On the list, or on the way to it: the readers an unsubscribe changes anything for.
    SUBSCRIBED = nonmember((PENDING, CONFIRMED))
    # Never mailed again, and never brought back by a new subscribe or an import.
    SUPPRESSED = nonmember((BOUNCED, COMPLAINED))


class Subscriber(Base):
    """A reader, one per normalised address."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on every new subscription request so an older confirmation link stops working.
    confirm_nonce: Mapped[int] = mapped_column(Integer, default=0)
    # Set by an erasure (SPEC §10): the keyed hash ("erased:<hex>") of the address that was here,
    # so an import of that address again is refused; `email` then holds a placeholder.
    email_hash: Mapped[str | None] = mapped_column(String(80), index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reader's preferences (their preference centre, `/manage/{token}`): the selection key
    # of the sections they chose ("" = everything, `app.sections`), "weekly" or "monthly", and
    # the moment a pause ends (no mail while it is in the future).
    sections: Mapped[str] = mapped_column(String(500), default="")
    cadence: Mapped[str] = mapped_column(String(10), default="weekly")
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Cadence(StrEnum):
    """How often a reader gets mail: every week's issue, or a monthly best-of."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"

    ALL = nonmember((WEEKLY, MONTHLY))


class ConsentEvent(Base):
    """Append-only record of consent given and withdrawn (SPEC §10); triggers forbid edits."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    channel: Mapped[str] = mapped_column(String(100))
    consent_text_version: Mapped[str | None] = mapped_column(String(40))
    # What a preference change set, e.g. "sections: Wind, Policy" or "pause: 3 weeks".
    detail: Mapped[str | None] = mapped_column(String(300))


class BounceKind(StrEnum):
    """What a late report said about one delivery (SPEC §9)."""

    HARD = "hard"  # a permanent failure (5.x.x): the reader is suppressed at once
    SOFT = "soft"  # a temporary failure (4.x.x) that the relay gave up on
    COMPLAINT = "complaint"  # an abuse report (RFC 5965 ARF, or a provider's complaint event)


class BounceEvent(Base):
    """A late bounce or complaint, matched by its signed token (or provider event) to a reader."""

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id"))
    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str | None] = mapped_column(String(12))  # the DSN status code, e.g. "5.1.1"
    diagnostic: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))  # pipe, mailbox, ses, postmark, …
    reference: Mapped[str | None] = mapped_column(String(300))  # the report's id, for the log
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Feed(Base):
    """An RSS/Atom feed polled for posts."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Post(Base):
    """A post with its absolute engagement counters, keyed by URL."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(String(2000))
    author: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    read_minutes: Mapped[int | None] = mapped_column(Integer)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IssueStatus(StrEnum):
    """Where an issue is on its way out, as stored (SPEC §6 issue JSON)."""

    DRAFT = "draft"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"

    ALL = nonmember((DRAFT, SENDING, PAUSED, SENT, CANCELLED))
    # A send runs (or waits for `resume`): it can be paused or cancelled.
    RUNNING = nonmember((SENDING, PAUSED))
    # Nothing more will go out (unless an editor sends a cancelled one to the rest).
    ENDED = nonmember((SENT, CANCELLED))
    # Mail went out to some readers and the send was not called off: the issue's posts count as
    # sent (never listed again) and its clicks count as readers' evidence.
    MAILED = nonmember((SENDING, PAUSED, SENT))
    # A send was started, whatever came of it (cancelled ones too): the issues with a history.
    STARTED = nonmember((SENDING, PAUSED, SENT, CANCELLED))


class Issue(Base):
    """One digest per ISO week; the unique week stops two drafts for the same week."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week: Mapped[str] = mapped_column(String(10), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    intro: Mapped[str] = mapped_column(Text, default="")
    pins: Mapped[list[int]] = mapped_column(JSON, default=list)
    drops: Mapped[list[int]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # The finished message, rendered once when the send starts (placeholders filled per reader).
    message_template: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ranked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a marked test copy last went out, and to whom (shown before the editor presses Send).
    test_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_sent_to: Mapped[str | None] = mapped_column(Text)

    # The overall list only; `app.issues.segments` reads the section items beside it.
    items: Mapped[list[IssueItem]] = relationship(
        back_populates="issue",
        order_by="IssueItem.rank",
        cascade="all, delete-orphan",
        primaryjoin="and_(Issue.id == IssueItem.issue_id, IssueItem.overall.is_(True))",
    )


class IssueItem(Base):
    """A post's place in an issue, with the score and reasons the ranking gave it."""

    __tablename__ = "issue_items"
    __table_args__ = (UniqueConstraint("issue_id", "post_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    # The sections the post is in, as a selection key ("grid,wind"; "" = none of them).
    sections: Mapped[str] = mapped_column(String(500), default="")
    # In the overall top 10 (everyone's list, the archive's). The others are a section's best
    # beyond it, listed only to readers of that section (`app.issues.segments`); their rank
    # continues the overall order.
    overall: Mapped[bool] = mapped_column(Boolean, default=True)

    issue: Mapped[Issue] = relationship(back_populates="items")
    post: Mapped[Post] = relationship()


class SectionClicks(Base):
    """Clicks on one issue item by the readers of one section ("" = readers of everything).

    A click in a segment's copy counts for each section the reader chose that the item is in;
    `IssueItem.clicks` keeps the total. The ranking reads these for per-section source factors.
    """

    __tablename__ = "section_clicks"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("issue_items.id", ondelete="CASCADE"), primary_key=True
    )
    section: Mapped[str] = mapped_column(String(60), primary_key=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryState(StrEnum):
    """A ledger row's state (SPEC §9): pending → sending → one terminal state."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"  # the reader left before their message went
    # Not sent because the send was cancelled first. It ends a cancelled send like a terminal
    # state, but it is the one settled state a row can leave: "send to the rest"
    # (`control.send_remaining`) puts it back to `pending`, and nothing else does.
    CANCELLED = "cancelled"

    ALL = nonmember((PENDING, SENDING, SENT, FAILED, BOUNCED, UNKNOWN, SKIPPED, CANCELLED))
    # Still to be settled: waiting for a batch, or leased to one.
    OPEN = nonmember((PENDING, SENDING))
    # Settled for good: no row ever leaves these. Each is the outcome of an attempt (`skipped`:
    # the reader was looked up and had left), so a send's progress counts them as done.
    TERMINAL = nonmember((SENT, FAILED, BOUNCED, UNKNOWN, SKIPPED))


class Delivery(Base):
    """The ledger: one row per (issue, reader), leased so two workers never share a row."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        Index("ix_deliveries_issue_state", "issue_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    batch: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which rendering of the issue this reader gets (`IssueSegment.number`); NULL on rows of
    # sends from before segments, which all used `Issue.message_template`.
    segment: Mapped[int | None] = mapped_column(Integer)


class IssueSegment(Base):
    """One rendering of an issue: the readers who chose the same sections and cadence.

    Fixed when the send starts, with its list of items and the finished message (compiled and
    encoded once for all its readers).
    """

    __tablename__ = "issue_segments"
    __table_args__ = (UniqueConstraint("issue_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    sections: Mapped[str] = mapped_column(String(500))  # the selection key ("" = everything)
    cadence: Mapped[str] = mapped_column(String(10))
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # IssueItem ids, in order
    readers: Mapped[int] = mapped_column(Integer, default=0)
    message_template: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdminUser(Base):
    """Someone who may log in to /admin."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdminLogin(Base):
    """One admin login session, kept server-side so logout and a new password can end it.

    Only a SHA-256 of the session id is stored: a copy of the table opens no session.
    """

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class SourceWeight(Base):
    """An editor's weight for one source: 2 counts its stories twice, 0 lists them only if pinned.

    Keyed by the name stripped and casefolded, the way the ranking matches sources; `name` keeps
    the spelling the editor saw. A source without a row weighs 1.
    """

    __tablename__ = "source_weights"
    __table_args__ = (CheckConstraint("weight >= 0 AND weight <= 10", name="weight_range"),)

    # Casefolding can triple a name's length (a 200-character name, up to 600 in the key).
    source_key: Mapped[str] = mapped_column(String(600), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
