"""The admin UI over HTTP: login, CSRF, draft review, preview, send, readers, feeds, outbox."""

from __future__ import annotations

import email
import html
import os
import re
from datetime import timedelta
from email import policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from app.accounts import create_admin
from app.delivery.engine import send_batch
from app.delivery.outbox import OutboxTransport
from app.issues.review import stories
from app.models import Delivery, Feed, Issue, IssueStatus, Post, Subscriber
from app.readers.importing import import_subscribers
from app.web import create_app
from app.web.admin.pages import week_range
from tests.test_issues import NOW, WEEK, seed_week

EMAIL, PASSWORD = "editor@example.org", "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def log_in(client: TestClient, email: str = EMAIL, password: str = PASSWORD):
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


@pytest.fixture
def editor(db):
    admin = create_admin(db, email=EMAIL, password=PASSWORD, now=NOW)
    db.commit()
    return admin


@pytest.fixture
def admin_client(client, editor, frozen_clock):
    assert log_in(client).status_code == 303
    return client


def token(client: TestClient, path: str = "/admin") -> str:
    return csrf_of(client.get(path).text)


def draft(db, admin_client) -> Issue:
    seed_week(db)
    db.commit()
    made = admin_client.post(
        "/admin/issues",
        data={"week": WEEK, "csrf_token": token(admin_client)},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    issue = db.scalar(select(Issue).where(Issue.week == WEEK))
    assert made.headers["location"].startswith(f"/admin/issues/{issue.id}")
    return issue


def readers(db, *emails: str) -> None:
    rows = [(n, email, None) for n, email in enumerate(emails, 2)]
    import_subscribers(db, rows=rows, consent_source="test", now=NOW, keys=["test-key"])
    db.commit()


# --- login ----------------------------------------------------------------------------------------


def test_login_sets_an_httponly_lax_session_and_opens_the_dashboard(client, editor, frozen_clock):
    response = log_in(client, email="Editor@Example.org")
    assert (response.status_code, response.headers["location"]) == (303, "/admin")
    cookie = response.headers["set-cookie"].lower()
    assert "digest_admin=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # http base URL
    assert "max-age=43200" in cookie  # 12 hours
    page = client.get("/admin")
    assert page.status_code == 200 and EMAIL in page.text and "Draft a week" in page.text


def test_the_session_cookie_is_secure_behind_https(settings, sessions, editor, frozen_clock):
    app = create_app(settings.model_copy(update={"base_url": "https://news.example.org"}))
    app.state.digest.sessions = sessions
    with TestClient(app, base_url="https://testserver") as client:
        response = log_in(client)
    assert response.status_code == 303 and "secure" in response.headers["set-cookie"].lower()


def test_the_session_expires_after_12_hours(admin_client, frozen_clock):
    frozen_clock.now = NOW + timedelta(hours=12, minutes=1)
    response = admin_client.get("/admin", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")


@pytest.mark.parametrize("email", [EMAIL, "nobody@example.org"])
def test_a_wrong_password_or_unknown_address_gets_the_same_401(client, editor, frozen_clock, email):
    response = log_in(client, email=email, password="not the password")
    assert response.status_code == 401
    assert "do not match an admin account" in response.text
    assert "digest_admin=" not in response.headers.get("set-cookie", "")
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_a_login_without_its_csrf_token_is_refused(client, editor, frozen_clock):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_login_attempts_are_rate_limited_per_ip(client, editor, frozen_clock, settings):
    limit = int(settings.login_rate.split("/")[0])
    for _ in range(limit):
        assert log_in(client, password="wrong password!").status_code == 401
    refused = log_in(client)  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert client.get("/admin", follow_redirects=False).status_code == 303


def routes_of(router) -> list:
    """Every route of a router, through the routers it includes (FastAPI keeps them nested)."""
    found = []
    for route in router.routes:
        inner = getattr(route, "original_router", None)
        found += routes_of(inner) if inner is not None else [route]
    return found


def test_every_admin_page_redirects_to_login_when_logged_out(client):
    from app.web.admin import router

    checked = 0
    for route in routes_of(router):
        path = getattr(route, "path", "")
        if not path.startswith("/admin") or path == "/admin/login":
            continue
        url = path.replace("{issue_id}", "1").replace("{feed_id}", "1")
        url = url.replace("{name}", "20261130T090000Z-000001-a-at-example.org.eml")
        for method in route.methods - {"HEAD"}:
            response = client.request(method, url, follow_redirects=False)
            assert response.status_code == 303, (method, url, response.status_code)
            assert response.headers["location"].startswith("/admin/login?next=/admin")
            checked += 1
    assert checked >= 25


def test_login_returns_to_the_page_asked_for_but_never_off_site(client, editor, frozen_clock):
    first = client.get("/admin/readers?status=pending", follow_redirects=False)
    assert first.headers["location"] == "/admin/login?next=/admin/readers%3Fstatus%3Dpending"
    page = client.get(first.headers["location"])
    assert 'value="/admin/readers?status=pending"' in page.text
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    response = client.post(
        "/admin/login", data={**data, "next": "https://evil.example/"}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin"


def test_logout_ends_the_session(admin_client):
    response = admin_client.post(
        "/admin/logout", data={"csrf_token": token(admin_client)}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
    assert admin_client.get("/admin", follow_redirects=False).status_code == 303


def test_a_new_password_ends_older_sessions(admin_client, db):
    create_admin(db, email=EMAIL, password="a brand new password", now=NOW)
    db.commit()
    assert admin_client.get("/admin", follow_redirects=False).status_code == 303


# --- CSRF and the draft review -------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "forged-token", "other-session"])
def test_a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing(
    admin_client, app, db, editor, csrf
):
    issue = draft(db, admin_client)
    before = [item.post_id for item in issue.items]
    data = {"action": f"drop:{before[0]}"}
    if csrf == "forged-token":
        data["csrf_token"] = "forged-token"
    elif csrf == "other-session":
        with TestClient(app) as other:
            assert log_in(other).status_code == 303
            data["csrf_token"] = token(other)
    response = admin_client.post(f"/admin/issues/{issue.id}/items", data=data)
    assert response.status_code == 403 and "Nothing was changed" in response.text
    db.expire_all()
    assert [item.post_id for item in db.get(Issue, issue.id).items] == before
    assert db.get(Issue, issue.id).drops == []


def test_the_review_shows_scores_reasons_and_what_was_left_out(admin_client, db):
    issue = draft(db, admin_client)
    page = admin_client.get(f"/admin/issues/{issue.id}")
    assert page.status_code == 200
    first = issue.items[0]
    assert f"<th>score</th><td>{first.score:.4f}</td>" in page.text
    assert html.escape(first.reasons["summary"], quote=False) in page.text
    assert "Technical details" in page.text
    assert "Posts that didn't make it, and why" in page.text
    assert "Local team wins the cup final" in page.text  # off-topic, listed with its reason
    assert "duplicate of “Spain sets new solar power record”" in page.text


def item_block(page: str, title: str) -> str:
    """The review page's <li> of the listed post with this title."""
    at = page.index(html.escape(title, quote=False))
    start = page.rindex('<li class="item', 0, at)
    ends = [i for i in (page.find('<li class="item', at), page.find("</ol>", at)) if i != -1]
    return page[start : min(ends)]


def test_a_story_shows_its_sources_and_its_other_posts_folded(admin_client, db):
    issue = draft(db, admin_client)
    [solar] = [i for i in issue.items if i.reasons["duplicates"]]
    [other] = [db.get(Post, pid) for pid in solar.reasons["duplicates"]]
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    block = item_block(page, solar.post.title)
    outlets = solar.reasons.get("coverage", {}).get("count", 2)  # a copy of one text counts once
    assert f'<details class="story"><summary>Covered by {outlets} source' in block
    assert f'<a href="{html.escape(other.url)}"' in block and html.escape(other.title) in block
    assert other.source in block and other.published_at.strftime("%a %d %b") in block
    lone = next(i for i in issue.items if not i.reasons["duplicates"])
    assert 'class="story' not in item_block(page, lone.post.title)  # one outlet: nothing to fold


def test_the_review_reads_coverage_and_hides_raw_numbers_in_a_table(admin_client, db):
    issue = draft(db, admin_client)
    first = issue.items[0]
    first.reasons = {
        **first.reasons,
        "summary": "covered by 9 outlets <b>(Reuters, DW…)</b>",
        "coverage": {"count": 9, "sources": ["Reuters", "DW"], "posts": 11},
        "also_in": ["DW"],
        "has_metrics": False,
        "coverage_factor": 1.8734,
        "spread_factor": 2,
        "duplicates": [issue.items[1].post_id, 10**9],  # a post since deleted is left out
    }
    db.commit()
    page = admin_client.get(f"/admin/issues/{issue.id}").text
    block = item_block(page, first.post.title)
    assert "covered by 9 outlets &lt;b&gt;(Reuters, DW…)&lt;/b&gt;" in block  # escaped
    assert "Covered by 9 sources" in block and "no engagement figures" in block
    assert "· 1 other post" in block and html.escape(issue.items[1].post.title) in block
    assert "Copies of one text" in block  # 11 posts from 9 sources
    table = block[block.index("Technical details") :]
    assert "<th>coverage factor</th><td>1.873</td>" in table
    assert "<th>has metrics</th><td>no</td>" in table
    assert "<th>spread factor</th><td>2</td>" in table
    assert not re.search(r"<th>(summary|coverage|also in|duplicates)</th>", table)


def test_the_other_posts_of_every_story_come_in_one_query(admin_client, db, engine):
    issue = draft(db, admin_client)
    for item in issue.items:  # every story claims three other posts
        item.reasons = {**item.reasons, "duplicates": [i.post_id for i in issue.items[-3:]]}
        item.post  # noqa: B018  (loaded now, not counted below)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        shown = stories(db, issue.items)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "posts" in statements[0]
    assert all(len(story.others) == 3 for story in shown.values())


def test_the_dashboard_says_when_a_week_has_no_engagement_figures(admin_client, db):
    issue = draft(db, admin_client)
    words = "No engagement figures this week (posts came from feeds)"
    assert words not in admin_client.get("/admin").text  # seeded posts carry counters
    for item in issue.items:
        item.reasons = {**item.reasons, "has_metrics": False}
    db.commit()
    assert words in admin_client.get("/admin").text
    issue.items[-1].reasons = {**issue.items[-1].reasons, "has_metrics": True}
    db.commit()
    assert words not in admin_client.get("/admin").text


def test_pin_and_drop_through_the_form_change_the_draft(admin_client, db):
    issue = draft(db, admin_client)
    listed = [item.post_id for item in issue.items]
    off_topic = next(p for p in db.scalars(select_posts()) if p.title.startswith("Local team"))
    csrf = token(admin_client, f"/admin/issues/{issue.id}")
    items = f"/admin/issues/{issue.id}/items"
    pinned = admin_client.post(items, data={"action": f"pin:{off_topic.id}", "csrf_token": csrf})
    assert pinned.status_code == 200 and "Pinned: the post is in the issue" in pinned.text
    assert pinned.url.path == f"/admin/issues/{issue.id}" and not pinned.url.query
    again = admin_client.get(f"/admin/issues/{issue.id}")  # a reload: the message was said once
    assert "Pinned: the post is in the issue" not in again.text
    db.expire_all()
    issue = db.get(Issue, issue.id)
    assert issue.pins == [off_topic.id] and issue.items[0].post_id == off_topic.id
    dropped = admin_client.post(items, data={"action": f"drop:{listed[0]}", "csrf_token": csrf})
    assert dropped.status_code == 200 and "Dropped by an editor" in dropped.text
    db.expire_all()
    issue = db.get(Issue, issue.id)
    assert listed[0] not in [item.post_id for item in issue.items] and issue.drops == [listed[0]]


def select_posts():
    from app.models import Post

    return select(Post).order_by(Post.id)


def test_subject_and_intro_are_saved_and_a_bad_subject_is_refused(admin_client, db):
    issue = draft(db, admin_client)
    csrf = token(admin_client, f"/admin/issues/{issue.id}")
    saved = admin_client.post(
        f"/admin/issues/{issue.id}/text",
        data={
            "subject": "Solar records & heat pumps",
            "intro": "Hello\r\nreaders",
            "csrf_token": csrf,
        },
    )
    assert saved.status_code == 200 and "Solar records &amp; heat pumps" in saved.text
    refused = admin_client.post(
        f"/admin/issues/{issue.id}/text", data={"subject": "", "intro": "", "csrf_token": csrf}
    )
    assert refused.status_code == 422 and "subject must be" in refused.text
    db.expire_all()
    issue = db.get(Issue, issue.id)
    assert (issue.subject, issue.intro) == ("Solar records & heat pumps", "Hello\nreaders")


def test_a_subject_or_intro_with_a_line_break_or_control_is_refused_on_the_form(admin_client, db):
    issue = draft(db, admin_client)
    before = (issue.subject, issue.intro)
    csrf = token(admin_client, f"/admin/issues/{issue.id}")
    for subject, intro, needle in [
        ("Hello\r\nBcc: x@evil.example", "Hi", "subject must be one line"),
        ("Hello\nBcc: x@evil.example", "Hi", "subject must be one line"),
        ("Hello", "Hi\x00there", "intro must not contain control characters"),
    ]:
        refused = admin_client.post(
            f"/admin/issues/{issue.id}/text",
            data={"subject": subject, "intro": intro, "csrf_token": csrf},
        )
        assert refused.status_code == 422 and needle in refused.text
    db.expire_all()
    issue = db.get(Issue, issue.id)
    assert (issue.subject, issue.intro) == before


# --- preview, test send, send and progress -------------------------------------------------------


def test_preview_as_a_reader_of_one_section(admin_client, db, settings):
    issue = draft(db, admin_client)
    wind = admin_client.get(f"/admin/issues/{issue.id}/preview?sections=wind").text
    assert '<option value="wind" selected>Wind only</option>' in wind
    assert "Picked for your sections: Wind." in wind
    # Anything but a section key shows the overall list, as a reader of everything gets it.
    for odd in ("astrology", "wind,policy", "<script>"):
        page = admin_client.get(f"/admin/issues/{issue.id}/preview", params={"sections": odd})
        assert page.status_code == 200 and "Picked for your sections" not in page.text
        assert '<option value="" selected>everything' in page.text
    # A test copy from that page is the Wind reader's list, and the page stays on Wind.
    csrf = csrf_of(wind)
    sent = admin_client.post(
        f"/admin/issues/{issue.id}/test",
        data={"emails": "editor@example.org", "sections": "wind", "csrf_token": csrf},
    )
    assert sent.status_code == 200 and "Test copy sent to editor@example.org" in sent.text
    assert '<option value="wind" selected>Wind only</option>' in sent.text
    copy = sorted(settings.outbox_dir.glob("*.eml"))[-1].read_bytes()
    text = email.message_from_bytes(copy, policy=policy.default).get_body(("plain",))
    assert "Picked for your sections: Wind." in text.get_content()
    # A section that does not exist sends the overall list, as everyone gets it.
    admin_client.post(
        f"/admin/issues/{issue.id}/test",
        data={"emails": "editor@example.org", "sections": "astrology", "csrf_token": csrf},
    )
    copy = sorted(settings.outbox_dir.glob("*.eml"))[-1].read_bytes()
    text = email.message_from_bytes(copy, policy=policy.default).get_body(("plain",))
    assert "Picked for your sections" not in text.get_content()


def test_preview_shows_both_widths_and_the_text_and_sends_a_test(admin_client, db, settings):
    issue = draft(db, admin_client)
    page = admin_client.get(f"/admin/issues/{issue.id}/preview")
    assert page.status_code == 200
    assert page.text.count('sandbox="allow-same-origin" srcdoc="') == 2
    assert 'class="mail desktop"' in page.text and 'class="mail phone"' in page.text
    assert (
        '<pre class="text-part">' in page.text and "Spain sets new solar power record" in page.text
    )
    csrf = csrf_of(page.text)
    bad = admin_client.post(
        f"/admin/issues/{issue.id}/test", data={"emails": "a@example.org, nope", "csrf_token": csrf}
    )
    assert bad.status_code == 422 and "nope" in bad.text
    assert list(settings.outbox_dir.glob("*.eml")) == []  # nothing sent when any address is bad
    sent = admin_client.post(
        f"/admin/issues/{issue.id}/test",
        data={"emails": "a@example.org,B@example.org", "csrf_token": csrf},
    )
    assert sent.status_code == 200 and "Test copy sent to a@example.org, b@example.org" in sent.text
    files = sorted(settings.outbox_dir.glob("*.eml"))
    assert len(files) == 2 and b"Subject: [TEST]" in files[0].read_bytes()
    confirm = admin_client.get(f"/admin/issues/{issue.id}/send").text
    last_test = confirm.split('data-field="last-test">')[1].split("</td>")[0]
    assert last_test == "2026-11-30 09:00 UTC to a@example.org, b@example.org"  # the frozen clock


def test_send_confirm_counts_only_the_readers_it_would_mail(admin_client, db):
    readers(db, "r1@example.org", "r2@example.org", "r3@example.org")
    paused = db.scalar(select(Subscriber).where(Subscriber.email == "r2@example.org"))
    paused.paused_until = NOW + timedelta(weeks=2)
    db.commit()
    issue = draft(db, admin_client)
    confirm = admin_client.get(f"/admin/issues/{issue.id}/send").text
    assert "Send to 2 readers?" in confirm
    assert "1 of the 3 confirmed readers wait: paused" in confirm


def test_send_confirm_start_progress_and_finish(admin_client, db, settings, sessions, published):
    readers(db, "r1@example.org", "r2@example.org", "r3@example.org")
    issue = draft(db, admin_client)
    confirm = admin_client.get(f"/admin/issues/{issue.id}/send")
    assert "Send to 3 readers?" in confirm.text
    assert f"<strong>{html.escape(issue.subject)}</strong>" in confirm.text
    assert f"<td>{html.escape(settings.from_address)}</td>" in confirm.text
    assert "never · <a" in confirm.text  # no test copy yet: the card says so
    assert 'class="button secondary"' in confirm.text  # "Not yet" is a secondary link
    started = admin_client.post(
        f"/admin/issues/{issue.id}/send",
        data={"csrf_token": csrf_of(confirm.text)},
        follow_redirects=False,
    )
    assert started.headers["location"] == f"/admin/issues/{issue.id}/progress"
    batches = [args for name, args in published if name == "digest.send_batch"]
    assert batches == [(issue.id, 0)]
    progress = admin_client.get(f"/admin/issues/{issue.id}/progress")
    assert '<meta http-equiv="refresh" content="2">' in progress.text  # the no-JS fallback
    assert admin_client.get(f"/admin/issues/{issue.id}/progress.json").json()["counts"] == {
        "total": 3,
        "sent": 0,
        "failed": 0,
        "bounced": 0,
        "unknown": 0,
        "skipped": 0,
        "pending": 3,
        "cancelled": 0,
    }
    send_batch(
        sessions,
        issue_id=issue.id,
        batch=0,
        settings=settings,
        transport=OutboxTransport(settings.outbox_dir),
    )
    data = admin_client.get(f"/admin/issues/{issue.id}/progress.json").json()
    assert (data["status"], data["counts"]["sent"], data["percent"], data["finished"]) == (
        "sent",
        3,
        100.0,
        True,
    )
    done = admin_client.get(f"/admin/issues/{issue.id}/progress")
    assert "http-equiv" not in done.text and "Sent to 3 readers in " in done.text
    assert f'<a href="/archive/{issue.id}">View in archive</a>' in done.text
    again = admin_client.post(
        f"/admin/issues/{issue.id}/send",
        data={"csrf_token": csrf_of(done.text)},
        follow_redirects=False,
    )  # a second click sends nothing more
    assert again.status_code == 303 and db.scalars(select(Delivery)).all().__len__() == 3


def test_pause_shows_its_reason_then_resume_and_cancel(admin_client, db, published):
    readers(db, "r1@example.org", "r2@example.org")
    issue = draft(db, admin_client)
    csrf = token(admin_client, f"/admin/issues/{issue.id}/send")
    admin_client.post(f"/admin/issues/{issue.id}/send", data={"csrf_token": csrf})
    progress = f"/admin/issues/{issue.id}/progress"
    paused = admin_client.post(f"/admin/issues/{issue.id}/pause", data={"csrf_token": csrf})
    assert "Sending paused." in paused.text and "Paused: paused by an editor" in paused.text
    assert ">Resume</button>" in paused.text and paused.url.path == progress
    assert not paused.url.query  # the message is not in the address: Back cannot bring it back
    assert "Sending paused." not in admin_client.get(progress).text  # said once
    resumed = admin_client.post(f"/admin/issues/{issue.id}/resume", data={"csrf_token": csrf})
    assert "Sending resumed." in resumed.text and ">Pause</button>" in resumed.text
    assert "Sending resumed." not in admin_client.get(progress).text
    cancelled = admin_client.post(f"/admin/issues/{issue.id}/cancel", data={"csrf_token": csrf})
    assert "was cancelled" in cancelled.text
    assert "Cancelled after 0 of 2 — 2 not sent" in cancelled.text
    assert ">Send to the rest (2 readers)</button>" in cancelled.text
    data = admin_client.get(f"{progress}.json").json()
    assert (data["status"], data["counts"]["cancelled"], data["finished"]) == ("cancelled", 2, True)
    assert (data["counts"]["skipped"], data["percent"], data["not_sent"]) == (0, 0.0, 2)
    again = admin_client.post(f"/admin/issues/{issue.id}/pause", data={"csrf_token": csrf})
    assert again.status_code == 409 and "only a sending issue can be paused" in again.text
    history = admin_client.get("/admin/history").text
    assert f'<a class="small" href="{progress}">2 not sent</a>' in history

    published.clear()
    rest = admin_client.post(f"/admin/issues/{issue.id}/send-remaining", data={"csrf_token": csrf})
    assert "Sending to the rest" in rest.text and ">Pause</button>" in rest.text
    assert published == [("digest.send_batch", (issue.id, 0))]
    assert admin_client.get(f"{progress}.json").json()["counts"]["pending"] == 2
    twice = admin_client.post(f"/admin/issues/{issue.id}/send-remaining", data={"csrf_token": csrf})
    assert twice.status_code == 200 and len(published) == 1  # a second click: nothing more


def test_history_counts_unsubscribes_after_the_send_and_draws_charts(admin_client, db):
    readers(db, "stay@example.org", "leave@example.org", "early@example.org")
    issue = draft(db, admin_client)
    issue.status, issue.send_started_at = IssueStatus.SENT, NOW
    issue.sent_at = NOW + timedelta(minutes=5)
    issue.items[0].clicks = 7
    for address, at in (
        ("leave@example.org", NOW + timedelta(days=1)),
        ("early@example.org", NOW - timedelta(days=1)),
    ):
        reader = db.scalar(select(Subscriber).where(Subscriber.email == address))
        reader.status, reader.unsubscribed_at = "unsubscribed", at
    db.commit()
    page = admin_client.get("/admin/history")
    assert page.status_code == 200 and page.text.count("<svg") == 2
    table = page.text[page.text.index('<table class="history cards">') :]
    row = re.search(rf"{re.escape(week_range(WEEK))}.*?</tr>", table, re.S).group(0)
    cells = re.findall(r'<td class="num[^"]*" data-label="[^"]*">([^<]*)</td>', row)
    # sent, failed, bounced, unsubscribes, clicks, click rate (none sent: no rate)
    assert cells == ["0", "0", "0", "1", "7", "—"]


# --- readers, feeds, outbox ----------------------------------------------------------------------


def test_readers_search_filter_and_export(admin_client, db):
    readers(db, "ada@example.org", "bob@example.org", "ada_100%@example.org")
    bob = db.scalar(select(Subscriber).where(Subscriber.email == "bob@example.org"))
    bob.status = "unsubscribed"
    db.commit()
    found = admin_client.get("/admin/readers", params={"q": "ADA"}).text
    assert "ada@example.org" in found and "bob@example.org" not in found
    literal = admin_client.get("/admin/readers", params={"q": "_100%"}).text
    assert "ada_100%@example.org" in literal and ">ada@example.org<" not in literal
    left = admin_client.get("/admin/readers", params={"status": "unsubscribed"}).text
    assert "bob@example.org" in left and "ada@example.org" not in left
    csv = admin_client.get("/admin/readers.csv", params={"status": "confirmed"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 3 and "bob@example.org" not in csv.text


def test_csv_import_shows_a_report_by_line(admin_client, db):
    body = "email,name\nnew@example.org,New\nnot-an-address,X\nnew@example.org,Again\n"
    response = admin_client.post(
        "/admin/readers/import",
        data={"consent_source": "fair-2026", "csrf_token": token(admin_client, "/admin/readers")},
        files={"file": ("people.csv", body.encode(), "text/csv")},
    )
    assert response.status_code == 200
    errors = re.findall(
        r'<td class="num">(\d+)</td><td class="address">([^<]*)</td>', response.text
    )
    assert errors == [("3", "not-an-address"), ("4", "new@example.org")]
    reader = db.scalar(select(Subscriber).where(Subscriber.email == "new@example.org"))
    assert (reader.status, reader.source) == ("confirmed", "import:fair-2026")
    no_source = admin_client.post(
        "/admin/readers/import",
        data={"csrf_token": token(admin_client, "/admin/readers")},
        files={"file": ("people.csv", body.encode(), "text/csv")},
    )
    assert no_source.status_code == 422 and "consent source is required" in no_source.text


def test_feeds_add_list_and_poll_now(admin_client, db, published):
    csrf = token(admin_client, "/admin/feeds")
    bad = admin_client.post("/admin/feeds", data={"url": "ftp://x", "csrf_token": csrf})
    assert bad.status_code == 422 and "http" in bad.text and db.scalar(select(Feed)) is None
    added = admin_client.post(
        "/admin/feeds",
        data={
            "url": "https://feeds.example.org/energy.xml",
            "topics": "Energy, grid",
            "csrf_token": csrf,
        },
    )
    assert added.status_code == 200 and "feeds.example.org/energy.xml" in added.text
    feed = db.scalar(select(Feed))
    assert feed.topics == ["energy", "grid"] and "Not checked yet" in added.text
    admin_client.post(f"/admin/feeds/{feed.id}/poll", data={"csrf_token": csrf})
    assert published.count(("digest.poll_feed", (feed.id,))) == 2  # on adding, and "poll now"


def test_outbox_lists_and_renders_messages(admin_client, db, settings):
    issue = draft(db, admin_client)
    csrf = token(admin_client, f"/admin/issues/{issue.id}/preview")
    admin_client.post(
        f"/admin/issues/{issue.id}/test", data={"emails": "box@example.org", "csrf_token": csrf}
    )
    listing = admin_client.get("/admin/outbox")
    name = re.search(r'href="/admin/outbox/([^"]+)"', listing.text).group(1)
    assert "box@example.org" in listing.text and "[TEST]" in listing.text
    message = admin_client.get(f"/admin/outbox/{name}")
    assert message.status_code == 200
    assert "<th>List-Unsubscribe-Post</th>" in message.text
    # The frame may be measured (frames.js) but runs no script; the mail is escaped in srcdoc.
    assert 'sandbox="allow-same-origin" srcdoc="' in message.text and "&lt;html" in message.text
    assert '<pre class="text-part">' in message.text


def test_outbox_refuses_names_outside_the_outbox(admin_client, settings):
    settings.outbox_dir.mkdir(parents=True)
    secret = settings.var_dir / "secret_key"
    secret.write_text("top secret")
    link = settings.outbox_dir / "20261130T090000Z-000001-evil.eml"
    os.symlink(secret, link)
    for name in (
        "..%2Fsecret_key",
        "%2E%2E%2Fsecret_key",
        ".hidden.eml",
        link.name,
        "20261130T090000Z-000002-x.eml.bak",
        "..%2F..%2Fetc%2Fpasswd",
    ):
        response = admin_client.get(f"/admin/outbox/{name}")
        assert response.status_code == 404, name
        assert "top secret" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/issues/999"),
        ("get", "/admin/issues/999/preview"),
        ("get", "/admin/issues/999/send"),
        ("get", "/admin/issues/999/progress"),
        ("post", "/admin/issues/999/test"),
        ("post", "/admin/issues/999/send"),
        ("post", "/admin/issues/999/pause"),
        ("post", "/admin/issues/999/resume"),
        ("post", "/admin/issues/999/cancel"),
    ],
)
def test_a_missing_issue_is_the_same_404_page_on_every_issue_route(admin_client, method, path):
    """Answered once, by the domain-error handler: heading, reason, way back, and the nav."""
    data = {"csrf_token": token(admin_client), "emails": "box@example.org"}
    page = (
        admin_client.get(path)
        if method == "get"
        else admin_client.post(path, data=data, follow_redirects=False)
    )
    assert page.status_code == 404
    assert "No such issue" in page.text and "There is no issue 999." in page.text
    assert 'href="/admin"' in page.text and "Log out" in page.text and EMAIL in page.text
    assert page.headers["cache-control"] == "no-store"
    progress = admin_client.get("/admin/issues/999/progress.json")
    assert (progress.status_code, progress.json()) == (404, {"detail": "no issue 999"})
