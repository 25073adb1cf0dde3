"""The feeds page says each feed's state in a sentence; status codes and raw errors stay folded."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.models import Feed, Post
from app.web.admin.feeds import PROBLEMS, health_sentence
from tests import test_admin
from tests.test_issues import NOW

editor, admin_client = test_admin.editor, test_admin.admin_client  # fixtures, shared


@pytest.mark.parametrize(
    ("status", "new", "sentence", "ok"),
    [
        (None, 0, "Not checked yet", True),
        ("ok", 2, "Up to date · 2 new posts", True),
        ("ok", 1, "Up to date · 1 new post", True),
        ("ok", 0, "Up to date · no new posts", True),
        ("not-modified", 0, "Up to date · nothing new since the last check", True),
        ("network-error", 0, "The site did not answer or refused the connection — check", False),
        ("timeout", 0, "The site was too slow to send the feed", False),
        ("not-public", 0, "The address leads to a private network", False),
        (
            "http-404",
            0,
            "The site has no page at this address (HTTP 404) — check the address",
            False,
        ),
        ("http-418", 0, "The site refused the request (HTTP 418) — check the address", False),
        ("http-503", 0, "The site had an error (HTTP 503) — usually temporary", False),
        ("http-abc", 0, "The last poll failed (http-abc)", False),
        ("something-new", 0, "The last poll failed (something-new)", False),
    ],
)
def test_every_poll_status_reads_as_a_sentence(status, new, sentence, ok):
    said, fine = health_sentence(status, new)
    assert said.startswith(sentence) and fine is ok


def test_every_failure_the_poller_records_has_its_own_sentence():
    # The statuses app/posts/feeds.py documents; "http-NNN" is covered by the HTTP table.
    for status in ("timeout", "too-large", "malformed", "not-a-feed", "network-error"):
        assert status in PROBLEMS and status not in PROBLEMS[status]
    for status in ("not-public", "error"):
        assert status in PROBLEMS


def feed(db, n: int, status: str | None, error: str | None = None, failures: int = 0) -> Feed:
    row = Feed(
        url=f"https://feeds{n}.example.org/rss", title=f"Feed {n}", topics=["energy"],
        last_fetched_at=NOW if status else None, last_status=status, last_error=error,
        error_count=failures, created_at=NOW - timedelta(days=9),
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


def post(db, n: int, feed_id: int, created) -> None:
    db.add(
        Post(
            url=f"https://example.org/p{n}",
            title=f"Post {n}",
            summary="",
            source="S",
            topics=["energy"],
            published_at=NOW - timedelta(days=1),
            feed_id=feed_id,
            created_at=created,
            updated_at=NOW,
        )  # fmt: skip
    )


def row_of(html: str, title: str) -> str:
    rows = re.findall(r"<tr[ >].*?</tr>", html, re.S)
    return next(row for row in rows if f"<strong>{title}</strong>" in row)


def test_the_feeds_page_speaks_in_sentences(admin_client, db):
    fresh = feed(db, 1, "ok")
    for n in range(3):  # two posts new in the last poll, one stored by an earlier one
        post(db, n, fresh.id, NOW if n < 2 else NOW - timedelta(days=7))
    feed(db, 2, "network-error", "ConnectError: [Errno 111] Connection refused", failures=3)
    feed(db, 3, "not-modified")
    feed(db, 4, None)
    db.commit()
    page = admin_client.get("/admin/feeds")
    assert page.status_code == 200
    assert "Up to date · 2 new posts" in row_of(page.text, "Feed 1")
    broken = row_of(page.text, "Feed 2")
    assert "The site did not answer or refused the connection — check the address" in broken
    assert 'class="failing"' in broken and "3 failed checks in a row" in broken
    # The raw error is there for whoever runs the server, folded under "Technical details".
    sentence_part, details = broken.split("<summary>Technical details</summary>")
    assert "Errno" not in sentence_part and "network-error" not in sentence_part
    assert "ConnectError: [Errno 111]" in details
    assert "Up to date · nothing new since the last check" in row_of(page.text, "Feed 3")
    assert "not-modified" not in page.text
    assert "Not checked yet" in row_of(page.text, "Feed 4")
    assert 'class="failing"' not in row_of(page.text, "Feed 1")
    # The add form's address field is a URL field the stylesheet styles.
    assert 'id="url" name="url" type="url"' in page.text
    css = admin_client.get("/static/admin.css").text
    assert "input[type=url]" in css
