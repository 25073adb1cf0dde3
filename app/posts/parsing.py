"""Feed bytes → posts: RSS 0.9x/1.0/2.0 and Atom via feedparser, feed HTML reduced to plain text."""

from __future__ import annotations

import calendar
import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import feedparser
from pydantic import ValidationError

from app.posts.schemas import (
    MAX_SUMMARY_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_TOPICS,
    PostIn,
    check_http_url,
    host_of,
)

log = logging.getLogger(__name__)


class FeedError(Exception):
    """A poll that failed; `status` is the short code stored in `Feed.last_status`."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class _TextExtractor(HTMLParser):
    """Feed HTML → plain text: tags dropped, entities decoded, script/style content skipped."""

    SKIP = frozenset({"script", "style", "template", "noscript"})
    BLOCKS = frozenset(
        {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figure"}
        | {"figcaption", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li"}
        | {"main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        if tag in self.BLOCKS:
            self.parts.append(" ")  # <p>a</p><p>b</p> must not read "ab"

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment, whitespace collapsed."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


@dataclass
class ParsedFeed:
    """Entries of a feed as posts, and what was skipped and why."""

    title: str | None
    posts: list[PostIn] = field(default_factory=list)
    skipped: dict[str, int] = field(
        default_factory=lambda: {"no_link": 0, "no_date": 0, "invalid": 0}
    )


def parse_feed(
    body: bytes, *, url: str | None, source: str | None, topics: list[str], content_type: str = ""
) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes into posts; FeedError if it is not a usable feed."""
    headers = {"content-type": content_type or "application/xml"}
    if url:
        headers["content-location"] = url  # base for relative links
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    # A broken feed that still yielded entries is read leniently, as feed readers do.
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        if parsed.get("bozo") and _looks_like_xml(body):
            raise FeedError("malformed", f"malformed feed XML: {parsed.get('bozo_exception')}")
        raise FeedError("not-a-feed", "no RSS or Atom feed found (is this the feed's URL?)")
    feed_title = _text(parsed.feed.get("title_detail")) or None
    result = ParsedFeed(title=feed_title[:500] if feed_title else None)
    source = source or feed_title or (host_of(url) if url else None)
    seen: set[str] = set()
    for entry in parsed.entries:
        post = _entry_post(entry, source=source, topics=topics, skipped=result.skipped)
        if post is not None and post.url not in seen:
            seen.add(post.url)
            result.posts.append(post)
    return result


def _looks_like_xml(body: bytes) -> bool:
    start = body[:200].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")) and b"<html" not in start


def _text(detail: Any) -> str:
    """Text of a feedparser text construct (HTML types are reduced to text)."""
    if not detail or not detail.get("value"):
        return ""
    value = detail["value"]
    if "html" in (detail.get("type") or ""):
        return html_to_text(value)
    return " ".join(value.split())


def _entry_link(entry: Any) -> str | None:
    candidates = [entry.get("link")] + [
        link.get("href") for link in entry.get("links", []) if link.get("rel") == "alternate"
    ]
    return _first_http_url(candidates)


def _first_http_url(candidates: list[Any]) -> str | None:
    for candidate in candidates:
        try:
            return check_http_url(candidate)
        except ValueError:
            continue
    return None


def _entry_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        moment = entry.get(key)
        if moment:
            return datetime.fromtimestamp(calendar.timegm(moment), UTC)  # feedparser gives UTC
    return None


def _entry_image(entry: Any) -> str | None:
    candidates = [item.get("url") for item in entry.get("media_content", [])]
    candidates += [item.get("url") for item in entry.get("media_thumbnail", [])]
    candidates += [
        link.get("href")
        for link in entry.get("links", [])
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/")
    ]
    return _first_http_url(candidates)


def _entry_author(entry: Any) -> str | None:
    # feedparser splits RSS's "desk@example.org (Jane Doe)" into name and email; show the name.
    name = (entry.get("author_detail") or {}).get("name") or entry.get("author") or ""
    return html_to_text(name)[:200] or None


def _entry_summary(entry: Any) -> str:
    detail = entry.get("summary_detail")
    if not detail and entry.get("content"):
        detail = entry["content"][0]
    return _text(detail)[:MAX_SUMMARY_LENGTH]


def _entry_post(
    entry: Any, *, source: str | None, topics: list[str], skipped: dict[str, int]
) -> PostIn | None:
    link = _entry_link(entry)
    if link is None:
        skipped["no_link"] += 1
        return None
    published = _entry_date(entry)
    if published is None:
        skipped["no_date"] += 1
        return None
    summary = _entry_summary(entry)
    title = _text(entry.get("title_detail")) or summary[:120] or link
    tags = [tag.get("term") or "" for tag in entry.get("tags", [])]
    all_topics = list(dict.fromkeys(t.strip().lower()[:100] for t in tags + topics if t.strip()))
    try:
        return PostIn(
            url=link,
            title=_shorten(title, MAX_TITLE_LENGTH),
            summary=summary,
            image_url=_entry_image(entry),
            author=_entry_author(entry),
            source=source[:200] if source else None,
            topics=all_topics[:MAX_TOPICS],
            published_at=published,
        )
    except ValidationError as error:
        log.info("skipping feed entry %s: %s", link, error)
        skipped["invalid"] += 1
        return None


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
