"""The preference-centre link: a second per-reader slot, the footers, section tags (issue 13)."""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.issues.mail import prepare_issue_message
from app.models import Subscriber
from app.readers.subscriptions import subscriber_for_manage
from app.tokens import Signer
from emails.compose import (
    MANAGE_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    MessageTemplate,
    Rendered,
    build_template,
)
from emails.render import (
    SECTION_CHARS,
    render_confirmation,
    render_digest,
    render_welcome,
    section_tag,
)
from tests.test_emails import LIST_ID, LONG_URL, MANAGE_URL, SENDER, bodies, sample_content
from tests.test_sending import T0, add_readers, make_issue, run_all, started

# Templates and one filled copy each, written by the code before the manage slot existed (the
# JSON index without "needs_manage"): an issue stored then must still send the same bytes.
V1 = Path(__file__).parent / "data" / "template_v1"
V1_VALUES = {
    "to": "reader@example.org",
    "message_id": "<digest.7.42@news.example.org>",
    "unsubscribe_url": "https://news.example.org/unsubscribe/tok=ab%2Fcd&x=1?q=%3D&a=b",
}


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def two_link_template(text: str, page: str) -> MessageTemplate:
    return build_template(
        sender=SENDER,
        subject="s",
        rendered=Rendered(subject="s", html=page, text=text),
        list_id=LIST_ID,
        feedback_id=None,
        date=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
    )


# --- the slot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digest", "cyrillic"])
def test_a_template_stored_before_the_manage_slot_fills_exactly_as_it_did(name: str) -> None:
    stored = (V1 / f"{name}.template").read_bytes()
    assert b"needs_manage" not in stored and b"manage_" not in stored
    template = MessageTemplate.loads(stored)
    assert template.needs_unsubscribe and not template.needs_manage
    assert template.fill(**V1_VALUES) == (V1 / f"{name}.eml").read_bytes()
    # The engine now passes every reader's manage link: an old template has nowhere to put it.
    with_manage = template.fill(**V1_VALUES, manage_url=MANAGE_URL)
    assert with_manage == (V1 / f"{name}.eml").read_bytes()
    assert template.dumps() == stored  # and stored again, it is the same bytes


def test_a_template_with_no_manage_link_is_stored_in_the_old_format() -> None:
    template = two_link_template(f"Bye: {UNSUBSCRIBE_PLACEHOLDER}\n", "<p>x</p>")
    assert not template.needs_manage
    assert b"needs_manage" not in template.dumps()


def test_a_template_with_a_manage_link_needs_one_and_stores_that() -> None:
    template = two_link_template(
        f"Manage: {MANAGE_PLACEHOLDER}\nBye: {UNSUBSCRIBE_PLACEHOLDER}\n",
        f'<a href="{MANAGE_PLACEHOLDER}">Manage</a> <a href="{UNSUBSCRIBE_PLACEHOLDER}">Bye</a>',
    )
    assert template.needs_manage and template.needs_unsubscribe
    with pytest.raises(ValueError, match="manage_url"):
        template.fill(to="r@example.org", message_id="<a@b>", unsubscribe_url=LONG_URL)
    stored = template.dumps()
    assert b'"needs_manage": true' in stored
    loaded = MessageTemplate.loads(stored)
    assert loaded == template
    values = {"to": "r@example.org", "message_id": "<a@b>", "unsubscribe_url": LONG_URL}
    raw = loaded.fill(**values, manage_url=MANAGE_URL)
    assert raw == template.fill(**values, manage_url=MANAGE_URL)
    message = parse(raw)
    text, page = bodies(message)
    assert text == f"Manage: {MANAGE_URL}\nBye: {LONG_URL}\n"
    assert f'href="{html.escape(MANAGE_URL)}"' in page and f'href="{html.escape(LONG_URL)}"' in page
    assert message["List-Unsubscribe"] == f"<{LONG_URL}>"  # never the preference centre


def test_only_the_manage_link_without_an_unsubscribe_link() -> None:
    template = two_link_template(f"Manage: {MANAGE_PLACEHOLDER}\n", "<p>no links</p>")
    assert template.needs_manage and not template.needs_unsubscribe
    raw = template.fill(
        to="r@example.org", message_id="<a@b>", unsubscribe_url=None, manage_url=MANAGE_URL
    )
    message = parse(raw)
    assert message["List-Unsubscribe"] is None
    assert bodies(message)[0] == f"Manage: {MANAGE_URL}\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b'"needs_manage": true, ', b""),  # the flag dropped: fill could not know it needs one
        (b'"needs_manage": true', b'"needs_manage": "yes"'),
    ],
)
def test_a_stored_template_whose_flags_do_not_match_its_slots_is_refused(
    before: bytes, after: bytes
) -> None:
    stored = two_link_template(f"Manage: {MANAGE_PLACEHOLDER}\n", "<p>x</p>").dumps()
    assert before in stored
    with pytest.raises(ValueError):
        MessageTemplate.loads(stored.replace(before, after, 1))
    unneeded = two_link_template("no links\n", "<p>x</p>").dumps()
    with pytest.raises(ValueError):  # a flag that claims a slot the template does not have
        MessageTemplate.loads(unneeded.replace(b"{", b'{"needs_manage": true, ', 1))


# --- the footers ------------------------------------------------------------------------------


def test_the_digest_footer_links_the_preference_centre_beside_unsubscribe() -> None:
    rendered = render_digest(
        sample_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    footer = rendered.html[rendered.html.index("You get this because") :]
    manage = footer.index(f'href="{MANAGE_PLACEHOLDER}"')
    assert manage < footer.index(f'href="{UNSUBSCRIBE_PLACEHOLDER}"') < manage + 400
    assert re.search(rf'href="{MANAGE_PLACEHOLDER}"[^>]*>Manage your subscription</a>', footer)
    lines = rendered.text.splitlines()
    at = lines.index(f"Manage your subscription: {MANAGE_PLACEHOLDER}")
    assert lines[at + 1] == f"Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}"


def test_the_digest_refuses_a_manage_link_that_is_no_http_url() -> None:
    for bad in ("javascript:alert(1)", "", "/manage/relative"):
        with pytest.raises(ValueError, match="manage_url"):
            render_digest(sample_content(), unsubscribe_url="https://x.org/u", manage_url=bad)


def test_the_welcome_mail_links_the_preference_centre_and_the_confirmation_does_not() -> None:
    values = {
        "site_name": "Weekly Digest",
        "tagline": "Weekly.",
        "unsubscribe_url": "https://news.example.org/unsubscribe/tok",
        "archive_url": "https://news.example.org/archive",
        "postal_address": "Hauptstraße 1, Berlin",
        "name": None,
    }
    manage = "https://news.example.org/manage/tok?a=1&b=2"
    welcome = render_welcome(**values, manage_url=manage)
    assert re.search(
        rf'href="{re.escape(html.escape(manage))}"[^>]*>Manage your subscription</a>', welcome.html
    )
    assert f"Manage your subscription: {manage}\n" in welcome.text
    without = render_welcome(**values)
    assert "Manage your subscription" not in without.html + without.text
    confirmation = render_confirmation(
        site_name="Weekly Digest", confirm_url="https://x.org/c/t", expires_days=7, name=None
    )
    assert "manage" not in (confirmation.html + confirmation.text).lower()


# --- section tags and the selection line ------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ((), None),
        (("Wind",), "Wind"),
        (("Wind", "Policy"), "Wind · Policy"),
        (("Wind", " wind ", "", "Policy"), "Wind · Policy"),
        (("Solar & storage", "Grid", "Policy", "Wind"), "Solar & storage · Grid +2"),
        (("A" * 60, "Wind"), "A" * SECTION_CHARS + "… +1"),
        (("Wind\r\nBcc: x@example.org",), "Wind Bcc: x@example.org"),
    ],
)
def test_a_cards_section_tag_is_short(labels: tuple[str, ...], expected: str | None) -> None:
    assert section_tag(labels) == expected


def sectioned(note: str | None = "Picked for your sections: Wind and Policy."):
    content = sample_content()
    cards = [
        replace(card, sections=("Wind", "Policy") if card.rank == 1 else ())
        for card in content.cards
    ]
    return replace(content, cards=cards, selection_note=note)


def render(content) -> Rendered:
    return render_digest(content, unsubscribe_url="https://x.org/u", manage_url="https://x.org/m")


def test_section_tags_and_the_selection_line_show_in_html_and_text() -> None:
    rendered = render(sectioned())
    page, text = rendered.html, rendered.text
    assert page.count("Wind · Policy") == 1  # the first card only
    tag = page.index("Wind · Policy")
    assert tag < page.index('class="title"') < page.index("min read", tag)  # above the title
    assert page.index("Here are the ten posts") < page.index("Picked for your sections")
    assert page.index("Picked for your sections") < tag
    lines = text.splitlines()
    assert lines[lines.index("[Wind · Policy]") + 1].startswith("1. ")
    assert text.count("[") == 1  # no empty tags on the other cards
    note = lines.index("Picked for your sections: Wind and Policy.")
    assert lines[note - 1] == "" and lines[note - 2].endswith("week.")  # right under the intro
    plain = render(sample_content())
    assert "Picked for" not in plain.html + plain.text and "[" not in plain.text


def test_section_labels_and_the_selection_line_are_escaped() -> None:
    hostile = "<script>x</script> {{ 7*7 }} " + MANAGE_PLACEHOLDER
    content = sectioned(note=hostile)
    content = replace(content, cards=[replace(content.cards[0], sections=(hostile,))])
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    assert "<script" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "49" not in rendered.html + rendered.text
    # Only the footer's link can become the reader's preference-centre URL.
    assert rendered.html.count(MANAGE_PLACEHOLDER) == rendered.text.count(MANAGE_PLACEHOLDER) == 1


# --- the digest through the app -----------------------------------------------------------------


def test_the_issue_template_leaves_both_links_open(db, settings):
    issue = make_issue(db)
    template = prepare_issue_message(
        db, issue, settings=settings, signer=Signer(settings.signing_keys()), now=T0
    )
    assert template.needs_unsubscribe and template.needs_manage
    assert MessageTemplate.loads(template.dumps()) == template


def test_preview_shows_the_preview_manage_link(db, client, admin_headers):
    issue = make_issue(db)
    db.commit()
    text = client.get(f"/api/issues/{issue.id}/preview?format=text", headers=admin_headers).text
    assert "Manage your subscription: http://testserver/manage/preview\n" in text
    page = client.get(f"/api/issues/{issue.id}/preview?format=html", headers=admin_headers).text
    assert 'href="http://testserver/manage/preview"' in page


def manage_link(message: email.message.EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"^Manage your subscription: (\S+)\r?$", text, re.MULTILINE)[1]


def reader_named_by(db, settings, url: str) -> int:
    token = urlsplit(url).path.rsplit("/", 1)[1]
    subscriber = subscriber_for_manage(
        db,
        signer=Signer(settings.signing_keys()),
        token=token,
        now=datetime.now(UTC),
        max_age=timedelta(days=1),
    )
    return subscriber.id


def test_each_sent_copy_links_its_own_readers_preference_centre(
    db, sessions, settings, smtp_server
):
    settings.smtp_url = smtp_server.url()
    issue = started(db, settings, readers=2)
    run_all(sessions, db, issue, settings)
    received = smtp_server.wait_for(2)
    ids = dict(db.execute(select(Subscriber.email, Subscriber.id)).tuples().all())
    for copy in received:
        link = manage_link(copy.message)
        assert link.startswith("http://testserver/manage/")
        assert reader_named_by(db, settings, link) == ids[copy.rcpt_tos[0]]
        page = copy.message.get_body(("html",)).get_content()
        assert f'href="{html.escape(link)}"' in page
        assert "/manage/" not in copy.message["List-Unsubscribe"]


def test_a_test_copy_links_the_readers_own_preference_centre_or_the_preview(
    db, settings, client, admin_headers, smtp_server
):
    settings.smtp_url = smtp_server.url()
    (reader,) = add_readers(db, 1)
    issue = make_issue(db)
    db.commit()
    answer = client.post(
        f"/api/issues/{issue.id}/test",
        headers=admin_headers,
        json={"emails": ["editor@example.org", "r0@example.org"]},
    )
    assert answer.status_code == 200, answer.text
    received = {m.rcpt_tos[0]: m.message for m in smtp_server.wait_for(2)}
    assert manage_link(received["editor@example.org"]) == "http://testserver/manage/preview"
    own = manage_link(received["r0@example.org"])
    assert reader_named_by(db, settings, own) == reader.id
