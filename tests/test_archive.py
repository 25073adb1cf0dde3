"""The public archive (app/issues/archive.py over /archive): what is public, pages kept per app."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from app.issues import archive
from app.web import create_app
from tests.test_sending import T0, make_issue


def _sent(db, week: str = "2026-W48"):
    issue = make_issue(db, week=week)
    issue.status, issue.sent_at = "sent", T0
    db.commit()
    return issue


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


def test_a_page_is_rendered_once_per_version(db, client, monkeypatch):
    issue = _sent(db)
    renders = []
    real = archive.render_digest_web
    monkeypatch.setattr(archive, "render_digest_web", lambda c: renders.append(1) or real(c))
    first = client.get(f"/archive/{issue.id}").text
    assert client.get(f"/archive/{issue.id}").text == first
    assert len(renders) == 1
    issue.sent_at = T0 + timedelta(hours=1)  # a new version of the issue
    db.commit()
    client.get(f"/archive/{issue.id}")
    assert len(renders) == 2


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
