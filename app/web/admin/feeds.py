"""Feeds page: each feed's health said in a sentence, add a feed, poll one now.

The poller stores short status codes (`network-error`, `http-404`, … see `app.posts.feeds`); an
editor reads what happened and what to do instead, and the technical text stays folded away.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app import clock
from app.models import Feed
from app.posts.feeds import (
    FeedExists,
    FeedNotFound,
    add_feed,
    list_feeds,
    new_posts_of_last_poll,
    queue_poll,
)
from app.posts.schemas import check_http_url, clean_topics
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import problem, redirect_done, render
from app.web.deps import db_session

router = APIRouter()

# A failed poll's status in words: what happened, then what the editor can do.
PROBLEMS = {
    "network-error": "The site did not answer or refused the connection — check the address",
    "timeout": "The site was too slow to send the feed — it is tried again at the next poll",
    "not-public": "The address leads to a private network, which feeds may not reach — "
    "check the address",
    "too-large": "The feed is too large to read — ask the site for a shorter feed",
    "malformed": "The address answered, but the feed could not be read — check that it is "
    "the RSS or Atom address",
    "not-a-feed": "The address is a web page, not an RSS or Atom feed — look for the feed "
    "link on that site",
    "error": "The posts could not be stored — the details below help whoever runs the server",
}
# HTTP answers by their first digit(s), for `http-NNN`.
HTTP_PROBLEMS = {
    "404": "The site has no page at this address (HTTP 404) — check the address",
    "410": "The site removed this feed (HTTP 410) — look for its new address",
    "401": "The site wants a login for this feed (HTTP 401)",
    "403": "The site refused to hand out this feed (HTTP 403) — it may block robots",
    "429": "The site asked us to poll less often (HTTP 429) — it is tried again later",
    "4": "The site refused the request (HTTP {code}) — check the address",
    "5": "The site had an error (HTTP {code}) — usually temporary; it is tried again later",
}


@dataclass(frozen=True)
class FeedHealth:
    """A feed and its last poll in words; `ok` picks the colour."""

    feed: Feed
    sentence: str
    ok: bool


def _posts(number: int) -> str:
    return "no new posts" if number == 0 else f"{number} new post{'s' if number != 1 else ''}"


def health_sentence(status: str | None, new_posts: int = 0) -> tuple[str, bool]:
    """A poll status as a sentence and whether all is well: 'Up to date · 2 new posts'."""
    if status is None:
        return "Not checked yet", True
    if status == "ok":
        return f"Up to date · {_posts(new_posts)}", True
    if status == "not-modified":
        return "Up to date · nothing new since the last check", True
    if status in PROBLEMS:
        return PROBLEMS[status], False
    code = status.removeprefix("http-")
    if code != status and code.isdigit():
        text = HTTP_PROBLEMS.get(code) or HTTP_PROBLEMS.get(code[0])
        if text:
            return text.format(code=code), False
    return f"The last poll failed ({status})", False


def _health(session: Session) -> list[FeedHealth]:
    fresh = new_posts_of_last_poll(session)
    shown = []
    for feed in list_feeds(session):
        sentence, ok = health_sentence(feed.last_status, fresh.get(feed.id, 0))
        shown.append(FeedHealth(feed, sentence, ok and not feed.error_count))
    return shown


def _page(
    request: Request,
    admin: AdminSession,
    session: Session,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "admin/feeds.html",
        status=status,
        admin=admin,
        feeds=_health(session),
        error=error,
        form=form or {},
    )


@router.get("/admin/feeds", response_class=HTMLResponse)
def feeds(
    request: Request, admin: AdminSession = Depends(current_admin), session: Session = db_session
) -> HTMLResponse:
    """Feeds with when they were last fetched and how that went, in words."""
    return _page(request, admin, session)


@router.post("/admin/feeds", response_class=HTMLResponse)
async def add_feed_form(
    request: Request, admin: AdminSession = Depends(admin_form), session: Session = db_session
) -> Response:
    """Add a feed to poll (its first poll is queued)."""
    form = await request.form()
    url, title = str(form.get("url") or "").strip(), str(form.get("title") or "").strip()
    topics_text = str(form.get("topics") or "")
    error, status = None, 422
    try:
        topics = clean_topics([t for t in topics_text.split(",") if t.strip()])
    except ValueError as problem_:
        error = f"Topics {problem_}"
    if error is None:
        try:
            check_http_url(url)
            add_feed(
                session,
                url=url,
                topics=topics,
                title=title or None,
                now=clock.now(),
                allow_private=request.app.state.digest.settings.feed_allow_private,
            )
        except ValueError as problem_:
            error = f"The feed URL {problem_}"
        except FeedExists as exists:
            error, status = str(exists), 409
    if error is not None:
        typed = {"url": url, "title": title, "topics": topics_text}
        return _page(request, admin, session, status=status, error=error, form=typed)
    return redirect_done(request, "/admin/feeds", "feed-added")


@router.post("/admin/feeds/{feed_id}/poll")
def poll_now(
    feed_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
) -> Response:
    """Queue a poll of one feed now; the result shows on the list once the worker ran it."""
    try:
        queue_poll(session, feed_id=feed_id)
    except FeedNotFound:
        return problem(request, admin, "No such feed", f"There is no feed {feed_id}.", status=404)
    return redirect_done(request, "/admin/feeds", "polling")
