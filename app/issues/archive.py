"""The public archive: which issues anyone may read on the web, what its pages show, its feed.

Every text here comes from posts (untrusted): it is cleaned and cut by the same functions the
digest mail uses (`emails.render`), and the pages' templates escape it once more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.issues.errors import IssueNotFound
from app.issues.mail import digest_content
from app.models import Issue, IssueItem, IssueStatus, Post
from app.tokens import Signer
from app.weeks import week_dates
from emails.render import clean_text, clip, web_context

PUBLIC_STATUSES = (IssueStatus.SENT,)
TEASER_TITLES = 3  # titles under each issue on the archive page
TEASER_CHARS = 120  # a teaser title is one line on a phone, two at most
DESCRIPTION_CHARS = 200  # og:description: previews cut near here anyway
ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 cannot hold at all, even escaped; a post title is no reason to break the feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class ArchiveEntry:
    """One sent issue as the archive lists it and the feed carries it."""

    id: int
    week: str
    dates: str  # "Mon 23 – Sun 29 Nov 2026"
    subject: str
    intro: str
    updated: datetime  # when it was sent
    titles: tuple[str, ...]  # every post title, in rank order, cleaned

    @property
    def teaser(self) -> tuple[str, ...]:
        """The top titles, cut to one or two lines."""
        return tuple(clip(title, TEASER_CHARS) for title in self.titles[:TEASER_TITLES])

    @property
    def description(self) -> str:
        """A sentence or two that previews the issue: its intro, else its top titles."""
        return clip(self.intro or "; ".join(self.teaser), DESCRIPTION_CHARS)


@dataclass(frozen=True)
class IssuePage:
    """What an issue's web page shows; `content` holds the digest's cleaned values (its cards)."""

    entry: ArchiveEntry
    content: Mapping[str, object]


def published_issues(session: Session) -> list[Issue]:
    """Every issue in the archive, newest week first."""
    query = select(Issue).where(Issue.status.in_(PUBLIC_STATUSES)).order_by(Issue.week.desc())
    return list(session.scalars(query))


def published_issue(session: Session, issue_id: int) -> Issue:
    """An issue of the archive; `IssueNotFound` when there is none or it is not public."""
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status not in PUBLIC_STATUSES:
        raise IssueNotFound(issue_id, f"no issue {issue_id} in the archive")
    return issue


def archive_entries(session: Session) -> list[ArchiveEntry]:
    """Every issue of the archive with its dates and titles, newest week first (two queries)."""
    issues = published_issues(session)
    titles: dict[int, list[str]] = {issue.id: [] for issue in issues}
    rows = session.execute(
        select(IssueItem.issue_id, Post.title)
        .join(Post, Post.id == IssueItem.post_id)
        .where(IssueItem.issue_id.in_(list(titles)), IssueItem.overall.is_(True))
        .order_by(IssueItem.issue_id, IssueItem.rank, IssueItem.id)
    )
    for issue_id, title in rows:
        titles[issue_id].append(clean_text(title) or "(untitled)")
    return [_entry(issue, titles[issue.id]) for issue in issues]


def _entry(issue: Issue, titles: list[str]) -> ArchiveEntry:
    return ArchiveEntry(
        id=issue.id,
        week=issue.week,
        dates=week_dates(issue.week),
        subject=clean_text(issue.subject),
        intro=clean_text(issue.intro),
        updated=issue.sent_at or issue.updated_at,
        titles=tuple(titles),
    )


class WebPages:
    """Archive pages' content, gathered once per issue version and then served from memory.

    One per web app: the content holds its links (click tracking signed with its keys, under
    its base URL), so the instance holds the settings and signer it was made for.
    """

    def __init__(self, settings: Settings, signer: Signer, *, keep: int = 64) -> None:
        self.settings = settings
        self.signer = signer
        self.keep = keep
        self._pages: dict[tuple[int, str], IssuePage] = {}

    def page(self, session: Session, issue: Issue) -> IssuePage:
        """The issue's page content: its dates, description and cards, without a reader's links."""
        version = (issue.sent_at or issue.updated_at).isoformat()
        key = (issue.id, version)
        if key not in self._pages:
            if len(self._pages) > self.keep:
                self._pages.clear()
            content = web_context(
                digest_content(session, issue, settings=self.settings, signer=self.signer)
            )
            cards = content["cards"]
            assert isinstance(cards, list)
            entry = _entry(issue, [str(card["title"]) for card in cards])
            self._pages[key] = IssuePage(entry=entry, content=content)
        return self._pages[key]


def atom_feed(entries: list[ArchiveEntry], *, settings: Settings) -> bytes:
    """The archive as an Atom 1.0 document (RFC 4287): one entry per sent issue, newest first."""
    base = settings.public_base_url
    feed = Element("feed", xmlns=ATOM)
    _text(feed, "id", f"{base}/archive")
    _text(feed, "title", settings.site_name)
    _text(feed, "subtitle", settings.tagline)
    # With no issue yet the feed still needs a stable <updated>: the epoch says "nothing new".
    newest = max((entry.updated for entry in entries), default=datetime(1970, 1, 1, tzinfo=UTC))
    _text(feed, "updated", _when(newest))
    SubElement(
        feed, "link", rel="self", type="application/atom+xml", href=f"{base}/archive/feed.xml"
    )
    SubElement(feed, "link", rel="alternate", type="text/html", href=f"{base}/archive")
    SubElement(SubElement(feed, "author"), "name").text = _xml(settings.site_name)
    for entry in entries:
        url = f"{base}/archive/{entry.id}"
        item = SubElement(feed, "entry")
        _text(item, "id", url)
        _text(item, "title", f"{entry.subject} ({entry.dates})")
        _text(item, "updated", _when(entry.updated))
        _text(item, "published", _when(entry.updated))
        SubElement(item, "link", rel="alternate", type="text/html", href=url)
        _text(item, "summary", entry.description)
        _content(item, entry)
    return tostring(feed, encoding="utf-8", xml_declaration=True)


def _content(item: Element, entry: ArchiveEntry) -> None:
    """The entry's whole list as XHTML: the intro, then every title in rank order."""
    content = SubElement(item, "content", type="xhtml")
    body = SubElement(content, "div", xmlns="http://www.w3.org/1999/xhtml")
    if entry.intro:
        SubElement(body, "p").text = _xml(entry.intro)
    listing = SubElement(body, "ol")
    for title in entry.titles:
        SubElement(listing, "li").text = _xml(title)


def _text(parent: Element, tag: str, text: str) -> None:
    SubElement(parent, tag).text = _xml(text)


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
