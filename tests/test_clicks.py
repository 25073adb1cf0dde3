"""Click counting (app/tracking/clicks.py over GET /r/{token}): once per client per item per day,
never for link prefetchers (issue 11, item 8b)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.models import IssueItem
from app.tracking.clicks import click_client, click_token, is_prefetcher
from tests.test_sending import T0, make_issue

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
OTHER_BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def item(db):
    issue = make_issue(db, week="2026-W48")
    issue.status, issue.sent_at = "sent", T0
    db.commit()
    return issue.items[0]


def _link(app, item) -> str:
    return f"/r/{click_token(app.state.digest.signer, issue_id=item.issue_id, item_id=item.id)}"


def _clicks(db, item) -> int:
    db.expire_all()
    return db.scalar(select(IssueItem.clicks).where(IssueItem.id == item.id))


def test_one_client_counts_once_a_day_however_often_it_follows(app, client, db, item):
    link = _link(app, item)
    for _ in range(5):
        answer = client.get(link, headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert answer.status_code == 302  # every follow still goes to the post
    assert _clicks(db, item) == 1


def test_another_client_counts_again(app, client, db, item):
    link = _link(app, item)
    client.get(link, headers={"User-Agent": BROWSER}, follow_redirects=False)
    client.get(link, headers={"User-Agent": OTHER_BROWSER}, follow_redirects=False)
    assert _clicks(db, item) == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "Mozilla/5.0 (compatible; BingPreview/1.0b)"},
        {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
        {"User-Agent": "facebookexternalhit/1.1"},
        {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Microsoft Office/16.0 Outlook"},
        {"User-Agent": "Barracuda Sentinel (EE)"},
        {"User-Agent": ""},
        {"User-Agent": BROWSER, "Sec-Purpose": "prefetch"},
        {"User-Agent": BROWSER, "Purpose": "prefetch"},
    ],
)
def test_prefetchers_are_redirected_but_not_counted(app, client, db, item, headers):
    answer = client.get(_link(app, item), headers=headers, follow_redirects=False)
    assert answer.status_code == 302
    assert _clicks(db, item) == 0


def test_the_client_key_is_a_salted_hash_that_changes_daily():
    day = datetime(2026, 12, 1, 10, tzinfo=UTC)
    key = click_client("secret-key", "203.0.113.9", BROWSER, now=day)
    assert "203.0.113.9" not in key and "Mozilla" not in key
    assert key == click_client("secret-key", "203.0.113.9", BROWSER, now=day.replace(hour=23))
    assert key != click_client(
        "secret-key", "203.0.113.9", BROWSER, now=datetime(2026, 12, 2, 0, 1, tzinfo=UTC)
    )
    assert key != click_client("other-key", "203.0.113.9", BROWSER, now=day)
    assert key != click_client("secret-key", "203.0.113.10", BROWSER, now=day)


def test_browsers_are_not_prefetchers():
    assert not is_prefetcher(BROWSER, purpose="")
    assert not is_prefetcher(OTHER_BROWSER, purpose="")
    assert is_prefetcher(BROWSER, purpose="prefetch")
