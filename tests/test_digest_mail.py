"""The digest as mail: content from issue rows, hostile posts escaped, preview and test sends."""

from __future__ import annotations

import email
import email.policy
import re
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app.issues.mail import digest_content, prepare_issue_message
from app.models import Delivery
from app.tokens import Signer
from app.tracking.clicks import follow_click
from emails.compose import MessageTemplate
from tests.test_sending import T0, add_readers, make_issue

HOSTILE = {
    "title": '<script>alert("t")</script> {{ 7*7 }} %%UNSUBSCRIBE_URL%% %%MANAGE_URL%%',
    "summary": "<img src=x onerror=alert(1)>\r\nBcc: victim@example.org {% raw %}",
    "url": "https://news.example.com/hostile?a=1&b=<2>",
}


def test_content_follows_rank_order_with_tracked_links(db, settings):
    issue = make_issue(db, [{"title": "First"}, {"title": "Second"}, {"title": "Third"}])
    signer = Signer(settings.signing_keys())
    content = digest_content(db, issue, settings=settings, signer=signer)
    assert [card.title for card in content.cards] == ["First", "Second", "Third"]
    assert content.week_label == "Week 48, 2026"
    assert content.web_url == f"http://testserver/archive/{issue.id}"
    assert content.cards[1].url.startswith("http://testserver/r/")
    token = urlsplit(content.cards[1].url).path.rsplit("/", 1)[1]
    assert follow_click(db, signer=signer, token=token) == "https://news.example.com/2026-W48/2"


def test_stored_template_round_trips(db, settings):
    issue = make_issue(db)
    template = prepare_issue_message(
        db, issue, settings=settings, signer=Signer(settings.signing_keys()), now=T0
    )
    assert MessageTemplate.loads(template.dumps()) == template


def test_hostile_post_fields_stay_escaped_in_the_message(db, settings):
    issue = make_issue(db, [HOSTILE])
    template = prepare_issue_message(
        db, issue, settings=settings, signer=Signer(settings.signing_keys()), now=T0
    )
    raw = template.fill(
        to="r@example.org",
        message_id="<d.1.2@news.example.org>",
        unsubscribe_url="https://news.example.org/unsubscribe/tok",
        manage_url="https://news.example.org/manage/tok",
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None  # no header injected by the summary's line break
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert "{{ 7*7 }}" in text and "49" not in text  # template syntax shown, not run
    assert "%%UNSUBSCRIBE_URL%%" not in html + text  # cannot spell our placeholder
    assert html.count("https://news.example.org/unsubscribe/tok") == 1
    assert html.count("https://news.example.org/manage/tok") == 1


def test_preview_endpoint_html_text_and_bad_format(db, client, admin_headers):
    issue = make_issue(db, [{"title": "Heat pumps & grids"}])
    db.commit()
    html = client.get(f"/api/issues/{issue.id}/preview?format=html", headers=admin_headers)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Heat pumps &amp; grids" in html.text and "<mj-" not in html.text
    text = client.get(f"/api/issues/{issue.id}/preview?format=text", headers=admin_headers)
    assert text.headers["content-type"].startswith("text/plain")
    assert "1. Heat pumps & grids" in text.text
    assert "Unsubscribe: http://testserver/unsubscribe/preview" in text.text
    bad = client.get(f"/api/issues/{issue.id}/preview?format=pdf", headers=admin_headers)
    assert bad.status_code == 422 and "html or text" in bad.text
    assert client.get("/api/issues/999999/preview", headers=admin_headers).status_code == 404


def test_test_send_arrives_marked_and_is_not_in_the_ledger(
    db, settings, client, admin_headers, smtp_server
):
    settings.smtp_url = smtp_server.url()
    (reader,) = add_readers(db, 1)
    issue = make_issue(db)
    db.commit()
    answer = client.post(
        f"/api/issues/{issue.id}/test",
        headers=admin_headers,
        json={"emails": ["Editor@Example.org", "r0@example.org"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sent"] == ["editor@example.org", "r0@example.org"]
    received = {m.rcpt_tos[0]: m.message for m in smtp_server.wait_for(2)}
    assert received["editor@example.org"]["Subject"].startswith("[TEST] Your top 3")
    assert "/unsubscribe/preview" in received["editor@example.org"]["List-Unsubscribe"]
    own = re.search(r"<([^>]+)>", received["r0@example.org"]["List-Unsubscribe"])[1]
    assert "/unsubscribe/preview" not in own and own.startswith("http://testserver/unsubscribe/")
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    db.refresh(issue)
    assert issue.status == "draft"


def test_a_test_copy_the_mail_server_refuses_is_a_502_with_its_reply(
    db, settings, client, admin_headers, smtp_server
):
    settings.smtp_url = smtp_server.url()
    smtp_server.faults.reject("editor@example.org", "550 5.7.1 Relaying denied")
    issue = make_issue(db)
    db.commit()
    answer = client.post(
        f"/api/issues/{issue.id}/test",
        headers=admin_headers,
        json={"emails": ["editor@example.org"]},
    )
    assert answer.status_code == 502
    assert "Relaying denied" in answer.json()["detail"]


def test_test_send_refuses_bad_lists(db, client, admin_headers):
    issue = make_issue(db)
    db.commit()
    url = f"/api/issues/{issue.id}/test"
    many = {"emails": [f"e{n}@example.org" for n in range(11)]}
    assert client.post(url, headers=admin_headers, json=many).status_code == 422
    bad = client.post(url, headers=admin_headers, json={"emails": ["not-an-address"]})
    assert bad.status_code == 422 and "not-an-address" in bad.text
    assert client.post(url, headers=admin_headers, json={"emails": []}).status_code == 422


def test_cards_name_the_storys_other_outlets_as_the_ranking_stored_them(db, settings):
    issue = make_issue(db, [{"title": "Covered"}, {"title": "Old issue"}, {"title": "Garbled"}])
    issue.items[0].reasons = {"also_in": ["Reuters", "Deutsche Welle"]}
    issue.items[2].reasons = {"also_in": "Reuters"}  # not a list: ignored, not split
    db.flush()
    content = digest_content(db, issue, settings=settings, signer=Signer(settings.signing_keys()))
    assert [card.also_in for card in content.cards] == [("Reuters", "Deutsche Welle"), (), ()]
    template = prepare_issue_message(
        db, issue, settings=settings, signer=Signer(settings.signing_keys()), now=T0
    )
    raw = template.fill(
        to="r@example.org",
        message_id="<d.1.2@news.example.org>",
        unsubscribe_url="https://news.example.org/unsubscribe/tok",
        manage_url="https://news.example.org/manage/tok",
    )
    text = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
    assert text.get_content().count("Also in:") == 1
    assert "Also in: Reuters, Deutsche Welle" in text.get_content()


def test_a_line_break_in_a_stored_subject_never_becomes_a_header_when_sent(
    db, settings, client, admin_headers, smtp_server
):
    # The editor refuses such a subject; a row written some other way must still be harmless.
    settings.smtp_url = smtp_server.url()
    issue = make_issue(db)
    issue.subject = "Top 3\r\nBcc: x@evil.example\r\n\r\nbody"
    issue.intro = "Hello\r\nBcc: y@evil.example"
    db.commit()
    answer = client.post(
        f"/api/issues/{issue.id}/test", headers=admin_headers, json={"emails": ["ed@example.org"]}
    )
    assert answer.status_code == 200, answer.text
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["ed@example.org"]
    message = received.message
    assert message["Bcc"] is None and "evil" not in " ".join(message.keys())
    assert message["Subject"] == "[TEST] Top 3 Bcc: x@evil.example body"
    template = prepare_issue_message(
        db, issue, settings=settings, signer=Signer(settings.signing_keys()), now=T0
    )
    raw = template.fill(
        to="r@example.org",
        message_id="<d.1.2@x.org>",
        unsubscribe_url="https://x.org/u/t",
        manage_url="https://x.org/m/t",
    )
    head = raw.partition(b"\r\n\r\n")[0]
    assert not re.search(rb"^bcc:", head, re.IGNORECASE | re.MULTILINE)
