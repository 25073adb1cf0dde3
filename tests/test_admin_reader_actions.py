"""Per-reader actions in the admin: a reader's deliveries as dates, "Unsubscribe this reader",
the readers count ("50 of 3,027") and the click rate per issue in the history."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.models import ConsentEvent, Delivery, Issue, IssueStatus, Subscriber
from tests import test_admin
from tests.test_admin import readers, token
from tests.test_issues import NOW, WEEK

editor, admin_client = test_admin.editor, test_admin.admin_client  # fixtures, shared
draft = test_admin.draft


def reader_id(db, address: str) -> int:
    return db.scalar(select(Subscriber.id).where(Subscriber.email == address))


def mail(db, issue: Issue, addresses: list[str], state: str = "sent") -> None:
    for batch, address in enumerate(addresses):
        db.add(
            Delivery(
                issue_id=issue.id,
                subscriber_id=reader_id(db, address),
                batch=batch,
                state=state,
                attempts=1,
                updated_at=NOW,
                sent_at=NOW + timedelta(minutes=2) if state == "sent" else None,
            )  # fmt: skip
        )


def test_a_reader_page_lists_deliveries_by_the_days_of_the_issue(admin_client, db):
    readers(db, "ada@example.org")
    issue = draft(db, admin_client)
    issue.status, issue.sent_at = IssueStatus.SENT, NOW
    mail(db, issue, ["ada@example.org"])
    db.commit()
    page = admin_client.get(f"/admin/readers/{reader_id(db, 'ada@example.org')}")
    assert page.status_code == 200
    table = page.text[page.text.index('<table class="deliveries cards">') :]
    row = table[table.index("<tbody>") : table.index("</tbody>")]
    assert f'<a href="/admin/issues/{issue.id}">Mon 23 – Sun 29 Nov</a>' in row
    assert WEEK not in row and "status-sent" in row and "2026-11-30 09:02 UTC" in row
    # The consent record sits right before the deliveries, in the same block.
    block = page.text[page.text.index('<div class="reader-history">') :]
    assert block.index("Consent record") < block.index("<h2>Deliveries</h2>")


def test_an_admin_unsubscribes_a_reader_and_the_consent_record_says_so(admin_client, db):
    readers(db, "ada@example.org")
    rid = reader_id(db, "ada@example.org")
    page = admin_client.get(f"/admin/readers/{rid}")
    assert f'action="/admin/readers/{rid}/unsubscribe"' in page.text
    forged = admin_client.post(f"/admin/readers/{rid}/unsubscribe", follow_redirects=False)
    assert forged.status_code == 403
    db.expire_all()
    assert db.get(Subscriber, rid).status == "confirmed"
    done = admin_client.post(
        f"/admin/readers/{rid}/unsubscribe",
        data={"csrf_token": token(admin_client, f"/admin/readers/{rid}")},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, f"/admin/readers/{rid}")
    db.expire_all()
    reader = db.get(Subscriber, rid)
    assert reader.status == "unsubscribed" and reader.unsubscribed_at == NOW
    events = db.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == rid)).all()
    assert [(e.kind, e.channel) for e in events][-1] == ("unsubscribe", "admin")
    shown = admin_client.get(done.headers["location"])
    assert "Unsubscribed: no more digests go to this reader" in shown.text
    assert f'action="/admin/readers/{rid}/unsubscribe"' not in shown.text  # nothing left to do
    # Again (a second tab, a double click): nothing changes, no second consent event.
    again = admin_client.post(
        f"/admin/readers/{rid}/unsubscribe",
        data={"csrf_token": token(admin_client, f"/admin/readers/{rid}")},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert "Unsubscribed:" not in admin_client.get(again.headers["location"]).text
    after = db.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == rid)).all()
    assert len(after) == len(events)


def test_unsubscribing_a_reader_who_is_not_there_is_a_404(admin_client, db):
    csrf = token(admin_client, "/admin/readers")
    missing = admin_client.post("/admin/readers/999999/unsubscribe", data={"csrf_token": csrf})
    assert missing.status_code == 404 and "There is no reader 999999." in missing.text
    for bad in ("abc", "99999999999999999999999"):
        answer = admin_client.post(f"/admin/readers/{bad}/unsubscribe", data={"csrf_token": csrf})
        assert answer.status_code in (404, 422), bad


def test_the_readers_list_says_how_many_it_shows_of_how_many(admin_client, db):
    readers(db, *(f"r{n:02d}@example.org" for n in range(60)))
    page = admin_client.get("/admin/readers")
    assert "(50 of 60)" in page.text and "shown of" not in page.text
    assert page.text.count('data-label="Address"') == 50
    second = admin_client.get("/admin/readers?page=2")
    assert "(10 of 60)" in second.text
    found = admin_client.get("/admin/readers?q=r07")
    assert "(1 of 1 matching · 60 in all)" in found.text


def test_the_history_shows_each_issues_click_rate(admin_client, db):
    addresses = [f"r{n}@example.org" for n in range(8)]
    readers(db, *addresses)
    issue = draft(db, admin_client)
    issue.status, issue.send_started_at, issue.sent_at = IssueStatus.SENT, NOW, NOW
    issue.items[0].clicks, issue.items[1].clicks = 2, 1
    mail(db, issue, addresses)
    db.commit()
    page = admin_client.get("/admin/history")
    rate = re.search(r'<td class="num rate" data-label="Click rate\*\*">([^<]*)</td>', page.text)
    assert rate and rate.group(1) == "37.5 %"  # 3 clicks / 8 sent
    assert "Mon 23 – Sun 29 Nov" in page.text
