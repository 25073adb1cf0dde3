"""The reader's pages over HTTP: form, subscribe (form and JSON), confirm, unsubscribe, health."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models import ConsentEvent, Subscriber
from app.readers.subscriptions import confirm_token, unsubscribe_token
from app.tokens import Signer


def _csrf(client) -> str:
    page = client.get("/")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _count(db, model=Subscriber) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_form_has_labelled_fields_honeypot_and_csrf(client):
    page = client.get("/")
    assert page.status_code == 200
    assert '<label for="email">' in page.text and 'id="email"' in page.text
    assert 'name="website"' in page.text  # honeypot
    assert 'name="csrf_token"' in page.text
    assert "digest_csrf" in page.headers["set-cookie"]


def test_form_subscribe_stores_pending_reader_and_queues_confirmation(client, db, published):
    token = _csrf(client)
    response = client.post(
        "/subscribe", data={"email": "Ada@Example.ORG", "name": "Ada", "csrf_token": token}
    )
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    reader = db.scalar(select(Subscriber))
    assert (reader.email, reader.status, reader.name) == ("ada@example.org", "pending", "Ada")
    assert published == [("digest.send_confirmations", ([reader.id],))]
    event = db.scalar(select(ConsentEvent))
    assert (event.kind, event.channel, event.email) == ("subscribe-request", "form", reader.email)
    assert event.ip and event.consent_text_version


def test_json_subscribe_answers_the_same_for_every_state(client, db, published):
    answers = []
    for _ in range(3):  # new, pending (within 10 min: no new mail), pending again
        response = client.post("/subscribe", json={"email": "bo@example.org"})
        answers.append((response.status_code, response.json()))
    assert answers == [(202, {"status": "check-your-inbox"})] * 3
    assert len(published) == 1  # at most one confirmation per address per 10 minutes
    reader = db.scalar(select(Subscriber))
    reader.status = "confirmed"
    db.commit()
    response = client.post("/subscribe", json={"email": "bo@example.org"})
    assert (response.status_code, response.json()) == (202, {"status": "check-your-inbox"})
    assert len(published) == 1


def test_pending_reader_gets_a_new_confirmation_after_ten_minutes(
    client, db, published, frozen_clock
):
    client.post("/subscribe", json={"email": "cy@example.org"})
    frozen_clock.now += timedelta(minutes=9)
    client.post("/subscribe", json={"email": "cy@example.org"})
    assert len(published) == 1
    frozen_clock.now += timedelta(minutes=2)
    client.post("/subscribe", json={"email": "cy@example.org"})
    assert len(published) == 2


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("not-an-address", "@"),
        ("a@b", "period"),
        ("evil@example.org\r\nBcc: victim@example.org", "one line"),
        ("x" * 990 + "@example.org", "too long"),
        ("", "enter an email"),
    ],
)
def test_invalid_addresses_get_422_with_a_reason(client, db, published, address, reason):
    response = client.post("/subscribe", json={"email": address})
    assert response.status_code == 422
    assert reason.lower() in response.json()["detail"].lower()
    token = _csrf(client)
    form = client.post("/subscribe", data={"email": address, "csrf_token": token})
    assert form.status_code == 422
    assert 'role="alert"' in form.text and "<form" in form.text  # the form, re-shown
    assert _count(db) == 0 and published == []


def test_non_string_email_in_json_is_422(client, db):
    response = client.post("/subscribe", json={"email": ["a@example.org"]})
    assert response.status_code == 422
    assert _count(db) == 0


def test_broken_json_and_wrong_content_type(client, db):
    broken = client.post(
        "/subscribe", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and "JSON" in broken.json()["detail"]
    not_object = client.post("/subscribe", json=["a@example.org"])
    assert not_object.status_code == 422
    wrong = client.post(
        "/subscribe", content=b"email=a@example.org", headers={"content-type": "text/plain"}
    )
    assert wrong.status_code == 415
    assert _count(db) == 0


def test_honeypot_filled_gets_normal_answer_and_nothing_happens(client, db, published):
    token = _csrf(client)
    response = client.post(
        "/subscribe",
        data={"email": "bot@example.org", "website": "http://spam", "csrf_token": token},
    )
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert _count(db) == 0 and published == []


def test_form_without_or_with_wrong_csrf_is_403_and_stores_nothing(client, db, published):
    _csrf(client)
    missing = client.post("/subscribe", data={"email": "a@example.org"})
    wrong = client.post("/subscribe", data={"email": "a@example.org", "csrf_token": "forged"})
    assert missing.status_code == 403 and wrong.status_code == 403
    assert _count(db) == 0 and published == []


def test_foreign_origin_is_refused(client, db):
    token = _csrf(client)
    response = client.post(
        "/subscribe",
        data={"email": "a@example.org", "csrf_token": token},
        headers={"origin": "https://evil.example.net"},
    )
    assert response.status_code == 403
    assert _count(db) == 0


def test_rate_limit_answers_429_with_retry_after(app, client, db):
    app.state.digest.settings.subscribe_rate = "3/minute"
    codes = [
        client.post("/subscribe", json={"email": f"r{i}@example.org"}).status_code for i in range(5)
    ]
    assert codes == [202, 202, 202, 429, 429]
    limited = client.post("/subscribe", json={"email": "late@example.org"})
    assert int(limited.headers["retry-after"]) >= 1
    assert _count(db) == 3


def _pending_reader(client, db, settings, address: str) -> tuple[Subscriber, str]:
    """A reader who just subscribed, and the token of their confirmation link."""
    client.post("/subscribe", json={"email": address})
    reader = db.scalar(select(Subscriber).where(Subscriber.email == address))
    return reader, confirm_token(Signer(settings.signing_keys()), reader, now=reader.created_at)


def test_confirm_link_get_shows_a_button_and_changes_nothing(client, db, published, settings):
    reader, token = _pending_reader(client, db, settings, "dan@example.org")
    events, tasks = _count(db, ConsentEvent), list(published)
    for _ in range(2):  # a link scanner, then the reader
        page = client.get(f"/confirm/{token}")
        assert page.status_code == 200
        assert "dan@example.org" in page.text
        form = re.search(
            r'<form method="post" action="([^"]+)">\s*<button type="submit"', page.text
        )
        assert form and form.group(1) == f"/confirm/{token}"
        assert "Confirm my subscription</button>" in page.text
    db.refresh(reader)
    assert (reader.status, reader.confirmed_at) == ("pending", None)
    assert _count(db, ConsentEvent) == events
    assert published == tasks  # no welcome mail queued


def test_confirm_post_confirms_once_and_queues_welcome(client, db, published, settings):
    reader, token = _pending_reader(client, db, settings, "dee@example.org")
    # No cookie and no Origin: the link opened in another browser, or by a script.
    first = client.post(f"/confirm/{token}")
    again = client.post(f"/confirm/{token}", headers={"origin": "http://testserver"})
    assert first.status_code == 200 and again.status_code == 200
    assert "You&#39;re subscribed" in first.text and "You&#39;re subscribed" in again.text
    db.refresh(reader)
    assert reader.status == "confirmed" and reader.confirmed_at is not None
    assert [name for name, _ in published].count("digest.send_welcome") == 1
    kinds = db.scalars(select(ConsentEvent.channel).where(ConsentEvent.kind == "confirm"))
    assert list(kinds) == ["confirm-page"]
    later = client.get(f"/confirm/{token}")
    assert later.status_code == 200 and "already subscribed" in later.text
    assert "<button" not in later.text


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"referer": "https://evil.example/page"},
        {"origin": "null"},
    ],
)
def test_cross_site_confirm_post_is_refused_and_changes_nothing(
    client, db, published, settings, headers
):
    reader, token = _pending_reader(client, db, settings, "dot@example.org")
    events, tasks = _count(db, ConsentEvent), list(published)
    response = client.post(f"/confirm/{token}", headers=headers)
    assert response.status_code == 403
    assert "another site" in response.text
    db.refresh(reader)
    assert reader.status == "pending"
    assert _count(db, ConsentEvent) == events
    assert published == tasks


def test_bad_tampered_expired_and_wrong_purpose_tokens_are_400(client, db, settings, frozen_clock):
    client.post("/subscribe", json={"email": "eve@example.org"})
    reader = db.scalar(select(Subscriber))
    signer = Signer(settings.signing_keys())
    good = confirm_token(signer, reader, now=frozen_clock.now)
    expired = confirm_token(signer, reader, now=frozen_clock.now - timedelta(days=8))
    other_key = confirm_token(Signer(["another-secret-key-abcdefgh"]), reader, now=frozen_clock.now)
    wrong_purpose = unsubscribe_token(signer, reader.id)
    for token in (
        "garbage",
        good[:-2] + ("AA" if good[-2:] != "AA" else "BB"),
        expired,
        other_key,
        wrong_purpose,
        "x" * 600,
    ):
        for response in (client.get(f"/confirm/{token}"), client.post(f"/confirm/{token}")):
            assert response.status_code == 400, token
            assert "This link doesn&#39;t work" in response.text
    assert "expired" in client.get(f"/confirm/{expired}").text
    assert "expired" in client.post(f"/confirm/{expired}").text
    db.refresh(reader)
    assert reader.status == "pending"
    confirm_as_unsubscribe = client.post(f"/unsubscribe/{good}")
    assert confirm_as_unsubscribe.status_code == 400
    db.refresh(reader)
    assert reader.status == "pending"


def test_rotated_keys_still_verify_old_tokens(client, db, settings, app):
    client.post("/subscribe", json={"email": "rot@example.org"})
    reader = db.scalar(select(Subscriber))
    old = unsubscribe_token(Signer(["old-secret-key-0123456789"]), reader.id)
    app.state.digest.signer = Signer(["new-secret-key-0123456789", "old-secret-key-0123456789"])
    assert client.get(f"/unsubscribe/{old}").status_code == 200


def test_unsubscribe_get_changes_nothing_post_unsubscribes_repeatably(client, db, settings):
    client.post("/subscribe", json={"email": "fay@example.org"})
    reader = db.scalar(select(Subscriber))
    reader.status = "confirmed"
    db.commit()
    token = unsubscribe_token(Signer(settings.signing_keys()), reader.id)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "fay@example.org" in page.text
    db.refresh(reader)
    assert reader.status == "confirmed"
    for body, headers in (
        (b"List-Unsubscribe=One-Click", {"content-type": "application/x-www-form-urlencoded"}),
        (
            b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click'
            b"\r\n--b--\r\n",
            {"content-type": "multipart/form-data; boundary=b"},
        ),
        (b"", {}),
    ):
        response = client.post(
            f"/unsubscribe/{token}", content=body, headers=headers, follow_redirects=False
        )
        assert response.status_code == 200
        assert "unsubscribed" in response.text
    db.refresh(reader)
    assert reader.status == "unsubscribed" and reader.unsubscribed_at is not None
    kinds = db.scalars(select(ConsentEvent.kind).where(ConsentEvent.subscriber_id == reader.id))
    assert list(kinds).count("unsubscribe") == 1


def test_resubscribing_after_unsubscribe_needs_a_new_confirmation(client, db, settings, published):
    client.post("/subscribe", json={"email": "gus@example.org"})
    reader = db.scalar(select(Subscriber))
    signer = Signer(settings.signing_keys())
    old_link = confirm_token(signer, reader, now=reader.created_at)
    client.post(f"/unsubscribe/{unsubscribe_token(signer, reader.id)}")
    client.post("/subscribe", json={"email": "gus@example.org"})
    db.refresh(reader)
    assert reader.status == "pending"
    assert client.get(f"/confirm/{old_link}").status_code == 400
    assert client.post(f"/confirm/{old_link}").status_code == 400
    db.refresh(reader)
    assert reader.status == "pending"
    assert [n for n, _ in published].count("digest.send_confirmations") == 2


def test_healthz_checks_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_consent_record_is_append_only(client, db):
    client.post("/subscribe", json={"email": "hal@example.org"})
    event = db.scalar(select(ConsentEvent))
    event.kind = "forged"
    with pytest.raises(Exception, match="append-only"):
        db.flush()
