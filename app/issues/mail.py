"""The digest as mail: its content from the issue rows, the once-per-issue message, previews, tests.

Test copies (`send_test`) are not recorded in the ledger. Their unsubscribe and preference-centre
links are the real ones when the address belongs to a subscriber (so an editor can try the whole
one-click path on their own address), and otherwise harmless preview URLs that only show "link
not valid".
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.delivery.returns import return_path
from app.delivery.transports import Transport
from app.errors import Conflict, Invalid
from app.issues.segments import IssueVariants, Variant, month_of
from app.models import Cadence, Issue, IssueItem, Subscriber
from app.readers.links import preview_links, reader_links
from app.readers.notifications import list_id, sender_domain
from app.sections import split_key
from app.tokens import Signer
from app.tracking.clicks import click_url
from app.weeks import parse_week
from emails.compose import (
    MANAGE_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    MessageTemplate,
    Rendered,
    build_template,
    make_message_id,
    sign_dkim,
)
from emails.render import DigestCard, DigestContent, render_digest

log = logging.getLogger(__name__)
PREVIEW_FORMATS = ("html", "text")
TEST_PREFIX = "[TEST] "
MAX_TEST_RECIPIENTS = 10


class NothingToSend(Conflict):
    """The issue lists no posts: there is no digest to mail."""


def week_label(week: str) -> str:
    """ "2026-W48" as readers see it: "Week 48, 2026"."""
    year, number = parse_week(week)
    return f"Week {number}, {year}"


def _items(session: Session, issue: Issue) -> list[IssueItem]:
    query = (
        select(IssueItem)
        .where(IssueItem.issue_id == issue.id, IssueItem.overall.is_(True))
        .options(selectinload(IssueItem.post))
        .order_by(IssueItem.rank, IssueItem.id)
    )
    return list(session.scalars(query))


def _also_in(reasons: dict) -> tuple[str, ...]:
    """The story's other outlets as the ranking stored them (none for older issues)."""
    names = reasons.get("also_in")
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


def digest_content(
    session: Session,
    issue: Issue,
    *,
    settings: Settings,
    signer: Signer,
    variant: Variant | None = None,
    segment: int | None = None,
) -> DigestContent:
    """What the issue shows: its posts in rank order, each linked through click tracking.

    With a `variant` (a segment's own list, `app.issues.segments`) the cards are its items in
    its order, each tagged with the reader's sections it is in, and a line under the intro
    says what was picked; the click links name the `segment`, so clicks count per section.
    """
    base = settings.public_base_url
    items = variant.items if variant is not None else _items(session, issue)
    chosen = set(variant.sections) if variant is not None else set()
    cards = [
        DigestCard(
            rank=position,
            title=item.post.title,
            url=click_url(signer, base, issue_id=issue.id, item_id=item.id, segment=segment),
            source=item.post.source,
            author=item.post.author,
            read_minutes=item.post.read_minutes,
            summary=item.post.summary,
            image_url=item.post.image_url,
            also_in=_also_in(item.reasons),
            sections=tuple(
                settings.sections.labels([k for k in split_key(item.sections) if k in chosen])
            ),
        )
        for position, item in enumerate(items, start=1)
    ]
    monthly = variant is not None and variant.cadence == Cadence.MONTHLY
    return DigestContent(
        site_name=settings.site_name,
        tagline=settings.tagline,
        week_label=month_label(issue.week) if monthly else week_label(issue.week),
        subject=variant_subject(issue, variant, settings) if variant else issue.subject,
        intro=issue.intro or "",
        cards=cards,
        postal_address=settings.reader_postal_address,
        archive_url=f"{base}/archive",
        signup_url=f"{base}/",
        web_url=f"{base}/archive/{issue.id}",
        selection_note=selection_note(variant, week=issue.week, settings=settings)
        if variant
        else None,
    )


def month_label(week: str) -> str:
    """The month a week belongs to, as readers see it: "November 2026"."""
    year, month = month_of(week)
    return f"{calendar.month_name[month]} {year}"


def variant_subject(issue: Issue, variant: Variant, settings: Settings) -> str:
    """A segment's subject: the issue's, or for monthly readers "The best of November 2026"."""
    if variant.cadence != Cadence.MONTHLY:
        return issue.subject
    return f"The best of {month_label(issue.week)}: your top {SUBJECT_TOPIC} posts"


# The digest's topic in subjects; `app.issues.drafts` words weekly subjects with it. Kept here,
# not imported from there: the send path (workers) must not load the ranking (numpy, sklearn).
SUBJECT_TOPIC = "sustainability & energy"


def selection_note(variant: Variant, *, week: str, settings: Settings) -> str | None:
    """What a reader's own list is, in a line under the intro (None for the overall list)."""
    parts = []
    period = "week"
    if variant.cadence == Cadence.MONTHLY:
        period = "month"
        parts.append(f"Your monthly digest: the best of {month_label(week)}.")
    if variant.sections:
        described = settings.sections.describe(",".join(variant.sections))
        parts.append(f"Picked for your sections: {described}.")
        others = len(variant.items) - variant.from_sections
        if others > 0:
            parts.append(
                f"Your sections had {_stories(variant.from_sections)} this {period};"
                f" the other {others} are the {period}'s top stories overall."
            )
    return " ".join(parts) or None


def _stories(count: int) -> str:
    return "no story" if count == 0 else "1 story" if count == 1 else f"{count} stories"


def prepare_variant_message(
    session: Session,
    issue: Issue,
    variant: Variant,
    *,
    settings: Settings,
    signer: Signer,
    now: datetime,
    segment: int | None = None,
) -> MessageTemplate:
    """A segment's message: its own list compiled and encoded once, for all its readers."""
    content = digest_content(
        session, issue, settings=settings, signer=signer, variant=variant, segment=segment
    )
    if not content.cards:
        raise NothingToSend(f"issue {issue.id} ({issue.week}) lists no posts: nothing to send")
    return build_template(
        sender=settings.from_address,
        subject=content.subject,
        rendered=render_digest(
            content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
        ),
        list_id=list_id(settings),
        feedback_id=feedback_id(settings, issue.id),
        date=now,
    )


def feedback_id(settings: Settings, issue_id: int, kind: str = "digest") -> str:
    """The Feedback-ID header (Gmail's feedback loop): issue, kind, list, sender domain."""
    return f"{issue_id}:{kind}:weekly:{sender_domain(settings)}"


def _rendered(
    session: Session,
    issue: Issue,
    settings: Settings,
    signer: Signer,
    variant: Variant | None = None,
) -> Rendered:
    content = digest_content(session, issue, settings=settings, signer=signer, variant=variant)
    if not content.cards:
        raise NothingToSend(f"issue {issue.id} ({issue.week}) lists no posts: nothing to send")
    return render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )


def prepare_issue_message(
    session: Session, issue: Issue, *, settings: Settings, signer: Signer, now: datetime
) -> MessageTemplate:
    """Compile the issue's MJML once and encode the message every reader's copy is filled from."""
    return build_template(
        sender=settings.from_address,
        subject=issue.subject,
        rendered=_rendered(session, issue, settings, signer),
        list_id=list_id(settings),
        feedback_id=feedback_id(settings, issue.id),
        date=now,
    )


def reader_variant(
    session: Session,
    issue: Issue,
    *,
    settings: Settings,
    sections: Sequence[str] = (),
    cadence: str = Cadence.WEEKLY,
) -> Variant | None:
    """The list a reader of these sections (names or keys) and cadence gets; None for the
    overall list. Unknown sections: `UnknownSections`; an unknown cadence: `Invalid`."""
    if cadence not in Cadence.ALL:
        raise Invalid(f"cadence must be weekly or monthly, not {str(cadence)[:40]!r}")
    keys = split_key(settings.sections.choose(sections))
    if not keys and cadence == Cadence.WEEKLY:
        return None
    return IssueVariants(session, issue, settings=settings).variant(keys, cadence)


def preview(
    session: Session,
    issue: Issue,
    *,
    settings: Settings,
    signer: Signer,
    fmt: str,
    sections: Sequence[str] = (),
    cadence: str = Cadence.WEEKLY,
) -> str:
    """The issue as a reader sees it, as `html` or `text`; ValueError for any other format.

    With `sections` (names or keys) or a monthly `cadence`, as a reader of that choice sees it:
    their own list (`app.issues.segments`). Unknown sections: `UnknownSections`; an unknown
    cadence: `Invalid`."""
    if fmt not in PREVIEW_FORMATS:
        raise ValueError(f"format must be one of {', '.join(PREVIEW_FORMATS)}, not {fmt!r}")
    variant = reader_variant(session, issue, settings=settings, sections=sections, cadence=cadence)
    content = digest_content(session, issue, settings=settings, signer=signer, variant=variant)
    links = preview_links(settings.public_base_url)
    rendered = render_digest(content, unsubscribe_url=links.unsubscribe, manage_url=links.manage)
    return rendered.html if fmt == "html" else rendered.text


@lru_cache(maxsize=4)
def _dkim_key(path: str) -> bytes:
    return Path(path).read_bytes()


def dkim_signer(settings: Settings) -> Callable[[bytes], bytes] | None:
    """A function that DKIM-signs finished bytes when DKIM is configured, else None."""
    if not (settings.dkim_key_file and settings.dkim_selector and settings.dkim_domain):
        return None
    key = _dkim_key(settings.dkim_key_file)

    def sign(message: bytes) -> bytes:
        return sign_dkim(
            message, selector=settings.dkim_selector, domain=settings.dkim_domain, private_key=key
        )

    return sign


def send_test(
    session: Session,
    issue: Issue,
    *,
    emails: list[str],
    settings: Settings,
    signer: Signer,
    transport: Transport,
    now: datetime,
    sections: Sequence[str] = (),
) -> list[str]:
    """Mail a "[TEST]" copy to each address (not in the ledger; the issue notes when and to
    whom); returns the addresses. With `sections`, the copy is the list their reader gets."""
    if not emails or len(emails) > MAX_TEST_RECIPIENTS:
        raise ValueError(f"give between 1 and {MAX_TEST_RECIPIENTS} addresses for a test send")
    variant = reader_variant(session, issue, settings=settings, sections=sections)
    template = build_template(
        sender=settings.from_address,
        subject=TEST_PREFIX + issue.subject,
        rendered=_rendered(session, issue, settings, signer, variant),
        list_id=list_id(settings),
        feedback_id=feedback_id(settings, issue.id, "test"),
        date=now,
    )
    query = select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(emails))
    readers = dict(session.execute(query).tuples().all())
    sign = dkim_signer(settings)
    base = settings.public_base_url
    with transport:
        for address in emails:
            reader = readers.get(address)
            links = (
                reader_links(base, signer, reader, now=now)
                if reader is not None
                else preview_links(base)
            )
            message = template.fill(
                to=address,
                message_id=make_message_id(
                    kind="test",
                    issue_id=None,
                    subscriber_id=reader or 0,
                    domain=sender_domain(settings),
                ),
                unsubscribe_url=links.unsubscribe,
                manage_url=links.manage,
            )
            if sign is not None:
                message = sign(message)
            # No token: a bounce of a test copy is reported, and changes nobody.
            sender = return_path(settings, None)
            transport.send(sender=sender, recipient=address, message=message)
            log.info("test copy of issue %s sent to %s", issue.id, address)
    # For the send confirmation: when the editor last saw the mail as readers will.
    issue.test_sent_at, issue.test_sent_to = now, ", ".join(emails)
    return list(emails)
