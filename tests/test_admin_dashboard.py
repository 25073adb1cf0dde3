"""The dashboard's weeks as dates, the draft form's default week, the unfinished-week question,
and deleting a draft (admin form and `DELETE /api/issues/{id}`)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.issues.calendar import default_week, recent_weeks, unfinished
from app.issues.drafts import delete_draft, draft_issue
from app.issues.errors import IssueLocked, IssueNotFound
from app.models import Issue, IssueItem, IssueStatus
from app.web.admin.pages import week_range
from tests import test_admin
from tests.test_admin import csrf_of, token
from tests.test_issues import NOW, WEEK, seed_week

editor, admin_client = test_admin.editor, test_admin.admin_client  # fixtures, shared
OPTION = re.compile(r'<option value="([^"]+)"([^>]*)>([^<]*)</option>')


def options(html: str) -> dict[str, tuple[str, str]]:
    """The draft form's weeks: {iso week: (attributes, label)}."""
    return {week: (attrs, label.strip()) for week, attrs, label in OPTION.findall(html)}


def add_issue(db, week: str, status: str) -> Issue:
    issue = Issue(
        week=week, status=status, subject=f"A {status} digest", intro="", pins=[], drops=[],
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    db.add(issue)
    db.flush()
    return issue


# --- weeks as dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("week", "shown"),
    [
        ("2026-W48", "Mon 23 – Sun 29 Nov"),
        ("2026-W49", "Mon 30 Nov – Sun 6 Dec"),
        ("2025-W48", "Mon 24 – Sun 30 Nov 2025"),
        ("2026-W01", "Mon 29 Dec 2025 – Sun 4 Jan 2026"),
        ("not a week", "not a week"),
        ("", "—"),
        (None, "—"),
    ],
)
def test_a_week_reads_as_its_days(frozen_clock, week, shown):
    assert week_range(week) == shown


def test_the_default_is_the_newest_complete_week_with_no_issue(db):
    assert unfinished("2026-W49", now=NOW) and not unfinished(WEEK, now=NOW)
    weeks = recent_weeks(db, now=NOW)
    assert [w.week for w in weeks[:3]] == ["2026-W49", "2026-W48", "2026-W47"]
    assert weeks[0].complete is False and all(w.complete for w in weeks[1:])
    assert default_week(weeks) == WEEK
    add_issue(db, WEEK, IssueStatus.SENT)
    add_issue(db, "2026-W47", IssueStatus.DRAFT)
    weeks = recent_weeks(db, now=NOW)
    assert default_week(weeks) == "2026-W46"  # neither the sent week nor the drafted one
    assert [w.draftable for w in weeks[1:3]] == [False, True]
    for back in range(2, 8):  # every complete week has an issue: the newest draft is offered
        add_issue(db, f"2026-W{48 - back:02d}", IssueStatus.SENT)
    assert default_week(recent_weeks(db, now=NOW)) == "2026-W47"


def test_the_dashboard_shows_date_ranges_and_defaults_to_an_undrafted_week(admin_client, db):
    add_issue(db, WEEK, IssueStatus.SENT)
    add_issue(db, "2026-W47", IssueStatus.DRAFT)
    db.commit()
    page = admin_client.get("/admin")
    assert page.status_code == 200 and "<h1>This week</h1>" not in page.text
    offered = options(page.text)
    assert list(offered)[:4] == ["2026-W49", "2026-W48", "2026-W47", "2026-W46"]
    assert offered["2026-W49"][1] == "Mon 30 Nov – Sun 6 Dec · this week, not over yet"
    assert offered[WEEK] == (" disabled", "Mon 23 – Sun 29 Nov · sent")
    assert offered["2026-W47"] == ("", "Mon 16 – Sun 22 Nov · drafted")  # offered, not chosen
    assert offered["2026-W46"] == (" selected", "Mon 9 – Sun 15 Nov · not drafted")
    assert "Draft · Mon 16 – Sun 22 Nov" in page.text  # the draft's card names its days
    assert 'data-label="Week">Mon 23 – Sun 29 Nov</td>' in page.text  # recent issues too
    assert "2026-W4" not in re.sub(r'value="2026-W\d\d"', "", page.text)  # no ISO name shown


# --- an unfinished week --------------------------------------------------------------------------


def test_an_unfinished_week_is_drafted_only_after_a_yes(admin_client, db):
    seed_week(db)
    db.commit()
    csrf = token(admin_client)
    asked = admin_client.post("/admin/issues", data={"week": "2026-W49", "csrf_token": csrf})
    assert asked.status_code == 200 and "Mon 30 Nov – Sun 6 Dec is not over yet" in asked.text
    assert db.scalar(select(func.count()).select_from(Issue)) == 0  # asking changed nothing
    yes = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text))
    assert yes["week"] == "2026-W49" and yes["draft_unfinished"] == "yes"
    made = admin_client.post("/admin/issues", data=yes, follow_redirects=False)
    assert made.status_code == 303
    assert db.scalar(select(Issue.week)) == "2026-W49"


def test_a_complete_week_drafts_at_once_and_bad_weeks_are_refused(admin_client, db):
    seed_week(db)
    db.commit()
    csrf = token(admin_client)
    made = admin_client.post(
        "/admin/issues", data={"week": WEEK, "csrf_token": csrf}, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/admin/issues/")
    for bad, status, needle in (
        ("2026-W60", 422, "ISO weeks 01..53"),
        ("next week", 422, "must look like 2026-W48"),
        ("2026-W50", 422, "has not begun yet"),
    ):
        page = admin_client.post("/admin/issues", data={"week": bad, "csrf_token": csrf})
        assert page.status_code == status and needle in page.text, bad
    forged = admin_client.post("/admin/issues", data={"week": WEEK}, follow_redirects=False)
    assert forged.status_code == 403
    # A "yes" without the form's token is no yes either.
    forged = admin_client.post(
        "/admin/issues", data={"week": "2026-W49", "draft_unfinished": "yes"}
    )
    assert forged.status_code == 403 and db.scalar(select(func.count()).select_from(Issue)) == 1


# --- deleting a draft ----------------------------------------------------------------------------


def test_delete_draft_removes_it_and_its_items_only_for_drafts(db, settings):
    seed_week(db)
    issue = draft_issue(db, week=WEEK, now=NOW, settings=settings)
    assert issue.items
    assert delete_draft(db, issue_id=issue.id) == WEEK
    assert db.scalar(select(func.count()).select_from(Issue)) == 0
    assert db.scalar(select(func.count()).select_from(IssueItem)) == 0
    with pytest.raises(IssueNotFound):
        delete_draft(db, issue_id=issue.id)
    for status in (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT, "cancelled"):
        locked = add_issue(db, f"2026-W{40 + len(status):02d}", status)
        with pytest.raises(IssueLocked):
            delete_draft(db, issue_id=locked.id)
        assert db.get(Issue, locked.id) is not None


def test_the_admin_deletes_an_empty_draft_after_confirming(admin_client, db):
    empty_id = add_issue(db, "2026-W45", IssueStatus.DRAFT).id
    db.commit()
    board = admin_client.get("/admin")
    assert "This draft has no posts" in board.text
    assert f'href="/admin/issues/{empty_id}/delete"' in board.text
    asked = admin_client.get(f"/admin/issues/{empty_id}/delete")
    assert asked.status_code == 200 and "Delete the draft for Mon 2 – Sun 8 Nov?" in asked.text
    assert db.scalar(select(func.count()).select_from(Issue)) == 1  # asking changes nothing
    forged = admin_client.post(f"/admin/issues/{empty_id}/delete", follow_redirects=False)
    assert forged.status_code == 403
    assert db.scalar(select(func.count()).select_from(Issue)) == 1
    done = admin_client.post(
        f"/admin/issues/{empty_id}/delete",
        data={"csrf_token": csrf_of(asked.text)},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/admin")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Issue)) == 0
    assert "The draft was deleted" in admin_client.get("/admin").text
    assert admin_client.get(f"/admin/issues/{empty_id}/delete").status_code == 404


def test_the_admin_cannot_delete_an_issue_that_went_out(admin_client, db):
    sent = add_issue(db, WEEK, IssueStatus.SENT)
    db.commit()
    asked = admin_client.get(f"/admin/issues/{sent.id}/delete")
    assert asked.status_code == 409 and "only a draft can be deleted" in asked.text
    refused = admin_client.post(
        f"/admin/issues/{sent.id}/delete", data={"csrf_token": token(admin_client)}
    )
    assert refused.status_code == 409 and db.get(Issue, sent.id) is not None
    for bad in ("abc", "0", "99999999999999999999"):
        assert admin_client.get(f"/admin/issues/{bad}/delete").status_code in (404, 422), bad
        posted = admin_client.post(
            f"/admin/issues/{bad}/delete", data={"csrf_token": token(admin_client)}
        )
        assert posted.status_code in (404, 422), bad


def test_api_deletes_a_draft_and_refuses_anything_else(client, admin_headers, db, frozen_clock):
    seed_week(db)
    db.commit()
    made = client.post("/api/issues", headers=admin_headers, json={"week": WEEK}).json()
    sent = add_issue(db, "2026-W47", IssueStatus.SENT)
    db.commit()
    assert client.delete(f"/api/issues/{made['id']}").status_code == 401  # no token
    gone = client.delete(f"/api/issues/{made['id']}", headers=admin_headers)
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(f"/api/issues/{made['id']}", headers=admin_headers).status_code == 404
    again = client.delete(f"/api/issues/{made['id']}", headers=admin_headers)
    assert again.status_code == 404 and again.json()["detail"]
    locked = client.delete(f"/api/issues/{sent.id}", headers=admin_headers)
    assert locked.status_code == 409 and "only a draft" in locked.json()["detail"]
    for bad in ("abc", "0", "-1", "99999999999999999999"):
        assert client.delete(f"/api/issues/{bad}", headers=admin_headers).status_code in (404, 422)
    # The week can be drafted again afterwards: a new issue, not the old one.
    again = client.post("/api/issues", headers=admin_headers, json={"week": WEEK})
    assert again.status_code == 201 and again.json()["id"] != made["id"]


def test_no_draft_is_deleted_a_week_later_by_accident(db, settings):
    # Deleting is by id: the draft of another week with the same status stays.
    seed_week(db)
    keep = add_issue(db, "2026-W46", IssueStatus.DRAFT)
    issue = draft_issue(db, week=WEEK, now=NOW + timedelta(minutes=1), settings=settings)
    delete_draft(db, issue_id=issue.id)
    assert db.get(Issue, keep.id) is not None
