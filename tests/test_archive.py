"""The public archive (app/issues/archive.py over /archive): what is public, the landing page,
issue pages in the site layout, the Atom feed, Open Graph tags, pages kept per app."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.issues import archive
from app.models import Subscriber
from app.web import create_app
from tests.test_sending import T0, make_issue

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOSTILE = '<script>alert(1)</script> "quoted" {{ 7*7 }} \x0b\x1f\ufffe end'


def _sent(db, week: str = "2026-W48", posts: list[dict] | None = None, sent_hours: int = 0):
    issue = make_issue(db, posts, week=week)
    issue.status, issue.sent_at = "sent", T0 + timedelta(hours=sent_hours)
    db.commit()
    return issue


def _meta(page: str, prop: str) -> str:
    match = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)">', page)
    assert match, f"no {prop} meta tag"
    return html.unescape(match.group(1))


def test_only_sent_issues_are_listed_and_shown(db, client):
    sent = _sent(db)
    draft = make_issue(db, week="2026-W49")
    db.commit()
    listing = client.get("/archive")
    assert f'href="/archive/{sent.id}"' in listing.text
    assert f'href="/archive/{draft.id}"' not in listing.text
    page = client.get(f"/archive/{sent.id}")
    assert page.status_code == 200 and "Solar story number 1" in page.text
    assert client.get(f"/archive/{draft.id}").status_code == 404
    assert client.get("/archive/999999").status_code == 404


def test_the_archive_is_a_landing_page(db, client):
    posts = [{"title": f"Headline {n}"} for n in range(1, 6)]
    older = _sent(db, "2026-W47", posts, sent_hours=-168)
    newest = _sent(db, "2026-W49", posts, sent_hours=168)
    page = client.get("/archive").text
    # Latest first, each with the days it covers, the latest marked as such.
    assert page.index(f'href="/archive/{newest.id}"') < page.index(f'href="/archive/{older.id}"')
    assert "Mon 30 Nov – Sun 6 Dec 2026" in page and "Mon 16 – Sun 22 Nov 2026" in page
    assert page.count("Latest</span>") == 1
    assert page.index("Latest</span>") < page.index("Mon 30 Nov")
    # The top three titles as a teaser, not the rest.
    newest_card = page[page.index("Mon 30 Nov") : page.index("Mon 16 – Sun 22 Nov")]
    assert all(f"<li>Headline {n}</li>" in newest_card for n in (1, 2, 3))
    assert "Headline 4" not in newest_card and "Read all 5" in newest_card
    # A subscribe form that works without JavaScript, with its CSRF token, and the feed.
    assert 'action="/subscribe"' in page and CSRF.search(page) and "<script" not in page
    assert 'href="/archive/feed.xml"' in page
    assert _meta(page, "og:type") == "website"


def test_an_empty_archive_still_invites(client):
    page = client.get("/archive")
    assert page.status_code == 200
    assert "No issue has been sent yet" in page.text and 'action="/subscribe"' in page.text


def test_an_issue_page_sits_in_the_site_layout(db, client, settings):
    issue = _sent(db)
    page = client.get(f"/archive/{issue.id}").text
    assert '<header class="site">' in page and 'href="/archive">← All issues</a>' in page
    assert "Mon 23 – Sun 29 Nov 2026" in page and "Get the next issue by email" in page
    assert CSRF.search(page) and 'action="/subscribe"' in page
    assert re.search(
        r'<a href="http://testserver/r/[^"]+" rel="noopener">Solar story number 1', page
    )
    assert "Unsubscribe" not in page  # no reader's links on a public page
    url = f"{settings.public_base_url}/archive/{issue.id}"
    assert _meta(page, "og:title") == issue.subject
    assert _meta(page, "og:description") == "This week: grids and heat pumps."
    assert _meta(page, "og:url") == url and _meta(page, "og:type") == "article"
    assert _meta(page, "og:site_name") == settings.site_name


def test_without_an_intro_the_preview_names_the_top_titles(db, client):
    issue = make_issue(db, [{"title": "First"}, {"title": "Second"}, {"title": "Third"}, {}])
    issue.status, issue.sent_at, issue.intro = "sent", T0, ""
    db.commit()
    page = client.get(f"/archive/{issue.id}").text
    assert _meta(page, "og:description") == "First; Second; Third"


def test_post_text_stays_text_on_every_archive_page(db, client):
    issue = _sent(db, posts=[{"title": HOSTILE, "summary": HOSTILE}])
    issue.intro = HOSTILE
    db.commit()
    for path in ("/archive", f"/archive/{issue.id}"):
        page = client.get(path).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "{{ 7*7 }}" in page and "49" not in page
        assert "\x0b" not in page and "\x1f" not in page  # controls gone
    description = _meta(client.get(f"/archive/{issue.id}").text, "og:description")
    assert description.startswith('<script>alert(1)</script> "quoted"')  # escaped in the attribute


def test_the_atom_feed_is_valid_and_lists_sent_issues_newest_first(db, client, settings):
    older = _sent(db, "2026-W47", sent_hours=-168)
    newest = _sent(db, "2026-W48", posts=[{"title": HOSTILE}, {}])
    make_issue(db, week="2026-W49")  # a draft: never in the feed
    db.commit()
    response = client.get("/archive/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    base = settings.public_base_url
    assert feed.feed.title == settings.site_name and feed.feed.id == f"{base}/archive"
    assert [link.href for link in feed.feed.links if link.rel == "self"] == [
        f"{base}/archive/feed.xml"
    ]
    assert [entry.link for entry in feed.entries] == [
        f"{base}/archive/{newest.id}",
        f"{base}/archive/{older.id}",
    ]
    first = feed.entries[0]
    assert first.title == f"{newest.subject} (Mon 23 – Sun 29 Nov 2026)"
    assert first.updated_parsed[:6] == T0.timetuple()[:6]
    assert first.summary == "This week: grids and heat pumps."
    assert '&lt;script&gt;alert(1)&lt;/script&gt; "quoted"' in first.content[0].value
    assert "<script" not in first.content[0].value


def test_an_empty_feed_is_still_valid_atom(client):
    feed = feedparser.parse(client.get("/archive/feed.xml").content)
    assert not feed.bozo and feed.version == "atom10" and feed.entries == []


@pytest.mark.parametrize(
    "path", ["/archive/feed.atom", "/archive/abc", "/archive/0", "/archive/-1"]
)
def test_other_archive_addresses_are_a_page_not_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/archive"' in response.text and '"detail"' not in response.text


def test_subscribing_from_the_archive_works_without_javascript(db, client, settings):
    _sent(db)
    page = client.get("/archive")
    token = CSRF.search(page.text).group(1)
    assert page.cookies.get("digest_csrf") == token or client.cookies.get("digest_csrf") == token
    form = {"email": "reader@example.org", "csrf_token": token, "website": ""}
    origin = {"origin": settings.public_base_url}
    answer = client.post("/subscribe", data=form, headers=origin)
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert db.scalar(select(Subscriber).where(Subscriber.email == "reader@example.org"))
    # The form's protections hold here as on the start page.
    elsewhere = client.post("/subscribe", data=form, headers={"origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    forged = client.post("/subscribe", data={**form, "csrf_token": "x"}, headers=origin)
    assert forged.status_code == 403


def test_a_page_is_gathered_once_per_version(db, client, monkeypatch):
    issue = _sent(db)
    gathered = []
    real = archive.digest_content
    monkeypatch.setattr(
        archive, "digest_content", lambda *a, **k: gathered.append(1) or real(*a, **k)
    )
    first = client.get(f"/archive/{issue.id}").text
    assert client.get(f"/archive/{issue.id}").text == first
    assert len(gathered) == 1
    issue.sent_at = T0 + timedelta(hours=1)  # a new version of the issue
    db.commit()
    client.get(f"/archive/{issue.id}")
    assert len(gathered) == 2


def test_two_apps_never_serve_each_others_pages(db, client, settings, sessions):
    # The kept pages carry their app's links: another base URL must render its own.
    issue = _sent(db)
    ours = client.get(f"/archive/{issue.id}").text
    other = create_app(settings.model_copy(update={"base_url": "https://other.example.org"}))
    other.state.digest.sessions = sessions
    with TestClient(other, base_url="http://testserver") as other_client:
        theirs = other_client.get(f"/archive/{issue.id}").text
    assert re.search(r'href="http://testserver/r/', ours)
    assert re.search(r'href="https://other\.example\.org/r/', theirs)
    assert "http://testserver/r/" not in theirs
