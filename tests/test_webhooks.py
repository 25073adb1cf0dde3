"""POST /webhooks/bounces/{provider}: genuinely signed provider events change readers, on SQLite
and PostgreSQL; every refused request is answered with its reason and changes nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.bounces.providers.sns import fetch_https
from app.config import Settings
from app.models import BounceEvent, Delivery, Issue, Subscriber
from app.tokens import MailRef, bounce_token
from app.web import create_app
from tests.test_sending import T0, add_readers, make_issue
from tests.webhook_signing import (
    SNS_HOST,
    TOPIC,
    CertificateServer,
    around,
    basic,
    certificate,
    ec_key,
    mailgun_signed,
    rsa_key,
    sendgrid_headers,
    sendgrid_public_key,
    ses_bounce,
    ses_complaint,
    sns_message,
)

POSTMARK_AUTH = "postmark-hook:c0rrect-h0rse"
MAILGUN_KEY = "mailgun-signing-key-0123456789abcdef"
NOW = int(T0.timestamp())
CERT_PATH = "/SimpleNotificationService-test.pem"


@pytest.fixture(scope="module")
def sns_key() -> Any:
    return rsa_key()


@pytest.fixture(scope="module")
def cert_server(sns_key: Any) -> Iterator[CertificateServer]:
    with CertificateServer() as server:
        server.files[CERT_PATH] = certificate(sns_key, **around(T0))
        server.files["/confirm"] = b"<ConfirmSubscriptionResponse/>"
        yield server


@pytest.fixture(scope="module")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec_key()


@pytest.fixture
def hook_settings(settings: Settings, sendgrid_key: ec.EllipticCurvePrivateKey) -> Settings:
    return settings.model_copy(
        update={
            "webhook_postmark_auth": POSTMARK_AUTH,
            "webhook_mailgun_key": MAILGUN_KEY,
            "webhook_sendgrid_key": sendgrid_public_key(sendgrid_key),
            "ses_topic_arns": [TOPIC],
        }
    )


def _client(settings: Settings, sessions: sessionmaker[Session], server: CertificateServer):
    app = create_app(settings)
    app.state.digest.sessions = sessions
    # The real fetch, over real HTTP; only the SNS host resolves to the local server.
    app.state.webhook_tools.fetch = lambda url: fetch_https(server.local(url))
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def hooks(
    hook_settings: Settings,
    sessions: sessionmaker[Session],
    cert_server: CertificateServer,
    frozen_clock: Any,
    published: list,
) -> Iterator[TestClient]:
    cert_server.asked.clear()
    with _client(hook_settings, sessions, cert_server) as client:
        yield client


@pytest.fixture
def readers(db: Session) -> list[Subscriber]:
    """r0@example.org and r1@example.org, confirmed."""
    readers = add_readers(db, 2)
    db.commit()
    return readers


def _sent(db: Session, reader: Subscriber) -> Issue:
    """An issue whose digest the relay accepted for `reader`."""
    issue = make_issue(db)
    issue.status = "sent"
    db.add(
        Delivery(
            issue_id=issue.id,
            subscriber_id=reader.id,
            batch=0,
            state="sent",
            attempts=1,
            updated_at=T0,
            sent_at=T0,
        )
    )
    db.commit()
    return issue


def statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.status)).all())


def bounce_events(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(BounceEvent)) or 0


UNCHANGED = {"r0@example.org": "confirmed", "r1@example.org": "confirmed"}


def assert_refused(answer: Any, status: int, words: str, sessions: sessionmaker[Session]) -> None:
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert statuses(sessions) == UNCHANGED
    assert bounce_events(sessions) == 0


def post_sns(client: TestClient, document: dict[str, str]) -> Any:
    # SNS posts its JSON as text/plain, with its message type in a header.
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "x"}
    return client.post("/webhooks/bounces/ses", content=json.dumps(document), headers=headers)


# --- Amazon SES through SNS ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_permanent_bounce_bounces_the_reader(
    hooks, readers, sessions, sns_key, cert_server, version
):
    document = sns_message(sns_key, message=ses_bounce("R0@Example.org"), version=version)
    answer = post_sns(hooks, document)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["provider"], body["processed"], body["changed"]) == ("ses", 1, 1)
    [action] = body["actions"]
    assert action["subscriber_id"] == readers[0].id and action["kind"] == "hard"
    assert "bounced (5.1.1)" in action["action"]
    assert statuses(sessions) == {"r0@example.org": "bounced", "r1@example.org": "confirmed"}
    assert cert_server.asked == [CERT_PATH]  # fetched once, over the wire


def test_a_notification_without_a_subject_is_verified_without_one(hooks, readers, sns_key):
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"), subject=None)
    assert "Subject" not in document
    assert post_sns(hooks, document).json()["changed"] == 1


def test_the_certificate_is_fetched_once_for_many_messages(
    hooks, readers, sessions, sns_key, cert_server
):
    for reader in readers:
        assert post_sns(hooks, sns_message(sns_key, message=ses_bounce(reader.email))).is_success
    assert cert_server.asked == [CERT_PATH]
    assert set(statuses(sessions).values()) == {"bounced"}


def test_a_signed_ses_complaint_marks_the_reader_complained(hooks, readers, sessions, sns_key):
    answer = post_sns(hooks, sns_message(sns_key, message=ses_complaint("r1@example.org")))
    assert answer.status_code == 200 and answer.json()["changed"] == 1
    assert statuses(sessions) == {"r0@example.org": "confirmed", "r1@example.org": "complained"}


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_a_transient_ses_bounce_does_not_suppress(hooks, readers, sessions, sns_key, bounce_type):
    message = ses_bounce("r0@example.org", bounce_type=bounce_type, status="4.4.7")
    answer = post_sns(hooks, sns_message(sns_key, message=message))
    assert answer.status_code == 200
    [action] = answer.json()["actions"]
    assert action["kind"] == "soft" and "temporary failure" in action["action"]
    assert statuses(sessions) == UNCHANGED
    assert bounce_events(sessions) == 1  # counted toward the three soft bounces


def test_the_return_path_token_names_the_reader_whatever_the_recipient_says(
    hooks, readers, sessions, sns_key, hook_settings
):
    token = bounce_token(hook_settings.signing_keys(), MailRef("confirm", None, readers[1].id))
    message = ses_bounce("alias@elsewhere.example", source=f"bounces+{token}@news.example.org")
    answer = post_sns(hooks, sns_message(sns_key, message=message))
    assert answer.json()["actions"][0]["subscriber_id"] == readers[1].id
    assert statuses(sessions) == {"r0@example.org": "confirmed", "r1@example.org": "bounced"}


def test_an_unknown_recipient_changes_nothing_and_is_reported(hooks, readers, sessions, sns_key):
    answer = post_sns(hooks, sns_message(sns_key, message=ses_bounce("nobody@example.org")))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["processed"], body["changed"]) == (1, 0)
    assert "no reader has the address nobody@example.org" in body["actions"][0]["action"]
    assert statuses(sessions) == UNCHANGED and bounce_events(sessions) == 0


def test_a_delivery_notification_is_read_and_ignored(hooks, readers, sessions, sns_key):
    message = json.dumps({"notificationType": "Delivery", "mail": {"source": "a@b.example"}})
    answer = post_sns(hooks, sns_message(sns_key, message=message))
    assert answer.status_code == 200
    assert answer.json()["changed"] == 0
    assert "not a bounce" in answer.json()["actions"][0]["action"]


def test_a_subscription_confirmation_from_our_topic_is_confirmed(
    hooks, readers, sns_key, cert_server
):
    subscribe = f"https://{SNS_HOST}/confirm?Action=ConfirmSubscription&Token=abc"
    document = sns_message(
        sns_key,
        kind="SubscriptionConfirmation",
        message="You have chosen to subscribe to the topic.",
        SubscribeURL=subscribe,
        Token="abc",
    )
    answer = post_sns(hooks, document)
    assert answer.status_code == 200, answer.text
    assert "confirmed" in answer.json()["actions"][0]["action"]
    assert cert_server.asked == [CERT_PATH, "/confirm?Action=ConfirmSubscription&Token=abc"]


def test_a_subscription_confirmation_from_a_foreign_topic_is_not_followed(
    hooks, readers, sessions, sns_key, cert_server
):
    document = sns_message(
        sns_key,
        kind="SubscriptionConfirmation",
        topic="arn:aws:sns:eu-west-1:999999999999:someone-else",
        message="subscribe",
        SubscribeURL=f"https://{SNS_HOST}/confirm?Token=x",
        Token="x",
    )
    assert_refused(post_sns(hooks, document), 403, "not in DIGEST_SES_TOPIC_ARNS", sessions)
    assert "/confirm?Token=x" not in cert_server.asked


def test_a_signed_message_from_a_foreign_topic_is_refused(hooks, readers, sessions, sns_key):
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"), topic=TOPIC + "-x")
    assert_refused(post_sns(hooks, document), 403, "not in DIGEST_SES_TOPIC_ARNS", sessions)


@pytest.mark.parametrize(
    "cert_url, words",
    [
        ("https://evil.example.com/cert.pem", "not an Amazon SNS host"),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/c.pem", "not an Amazon SNS host"),
        (f"http://{SNS_HOST}{CERT_PATH}", "plain https URL"),
        (f"https://{SNS_HOST}:8443{CERT_PATH}", "plain https URL"),
        ("not a url at all", "plain https URL"),
    ],
)
def test_a_certificate_url_off_sns_is_refused_and_never_fetched(
    hooks, readers, sessions, sns_key, cert_server, cert_url, words
):
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"), cert_url=cert_url)
    assert_refused(post_sns(hooks, document), 403, words, sessions)
    assert cert_server.asked == []


def test_a_tampered_ses_message_is_refused(hooks, readers, sessions, sns_key):
    document = sns_message(sns_key, message=ses_bounce("r1@example.org"))
    document["Message"] = ses_bounce("r0@example.org")  # signed for r1, now names r0
    assert_refused(post_sns(hooks, document), 403, "does not match", sessions)


def test_a_message_signed_with_another_key_is_refused(hooks, readers, sessions):
    document = sns_message(rsa_key(), message=ses_bounce("r0@example.org"))
    assert_refused(post_sns(hooks, document), 403, "does not match", sessions)


def test_a_version_1_signature_presented_as_version_2_is_refused(hooks, readers, sessions, sns_key):
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"), version="1")
    document["SignatureVersion"] = "2"
    assert_refused(post_sns(hooks, document), 403, "does not match", sessions)


def test_an_expired_certificate_is_refused(hooks, readers, sessions, sns_key, cert_server):
    expired = certificate(
        sns_key, not_before=T0.replace(year=2020), not_after=T0.replace(year=2021)
    )
    cert_server.files["/expired.pem"] = expired
    url = f"https://{SNS_HOST}/expired.pem"
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"), cert_url=url)
    assert_refused(post_sns(hooks, document), 403, "not valid at", sessions)


def test_a_certificate_url_that_holds_no_certificate_is_refused(hooks, readers, sessions, sns_key):
    url = f"https://{SNS_HOST}/missing.pem"  # the server answers 404
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"), cert_url=url)
    assert_refused(post_sns(hooks, document), 403, "could not fetch", sessions)


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"Signature": "***not base64***"}, 403, "not base64"),
        ({"SignatureVersion": "3"}, 422, "SignatureVersion"),
        ({"Type": "Gossip"}, 422, "Type"),
        ({"MessageId": None}, 422, "MessageId"),
    ],
)
def test_a_malformed_sns_message_is_refused(
    hooks, readers, sessions, sns_key, change, status, words
):
    document = sns_message(sns_key, message=ses_bounce("r0@example.org"))
    document.update(change)
    assert_refused(post_sns(hooks, document), status, words, sessions)


def test_a_signed_message_that_is_no_ses_notification_is_refused(hooks, readers, sessions, sns_key):
    answer = post_sns(hooks, sns_message(sns_key, message="hello from the SNS console"))
    assert_refused(answer, 422, "not an SES notification", sessions)
    answer = post_sns(hooks, sns_message(sns_key, message='{"bounce": "yes"}'))
    assert_refused(answer, 422, "bounce", sessions)


# --- Postmark ------------------------------------------------------------------------------------


def postmark_bounce(email: str, type_: str = "HardBounce", code: int = 1, **extra: Any) -> dict:
    """A Bounce webhook body as Postmark's documentation shows it."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": type_,
        "TypeCode": code,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "digest@news.example.org",
        "BouncedAt": "2026-11-30T08:59:10Z",
        "Inactive": True,
        **extra,
    }


def post_postmark(client: TestClient, body: Any, auth: str | None = POSTMARK_AUTH) -> Any:
    headers = basic(auth) if auth is not None else {}
    return client.post("/webhooks/bounces/postmark", json=body, headers=headers)


def test_a_postmark_hard_bounce_bounces_the_reader(hooks, readers, sessions):
    answer = post_postmark(hooks, postmark_bounce("r0@example.org"))
    assert answer.status_code == 200, answer.text
    [action] = answer.json()["actions"]
    assert action["changed"] and "bounced (5.1.1)" in action["action"]
    assert statuses(sessions) == {"r0@example.org": "bounced", "r1@example.org": "confirmed"}


def test_the_same_postmark_event_twice_changes_things_once(hooks, readers, sessions):
    assert post_postmark(hooks, postmark_bounce("r0@example.org")).json()["changed"] == 1
    again = post_postmark(hooks, postmark_bounce("r0@example.org")).json()
    assert again["changed"] == 0 and "already processed" in again["actions"][0]["action"]
    assert bounce_events(sessions) == 1


def test_a_postmark_spam_complaint_marks_the_reader_complained(hooks, readers, sessions):
    body = postmark_bounce("r1@example.org", "SpamComplaint", 100001, RecordType="SpamComplaint")
    assert post_postmark(hooks, body).json()["changed"] == 1
    assert statuses(sessions)["r1@example.org"] == "complained"


@pytest.mark.parametrize(
    "type_, code, applied",
    [
        ("SoftBounce", 4096, "temporary failure"),
        ("Transient", 2, "temporary failure"),
        ("Blocked", 100006, "not applied"),
        ("SpamNotification", 512, "not applied"),
        ("AutoResponder", 64, "not applied"),
    ],
)
def test_postmark_bounces_that_say_nothing_final_do_not_suppress(
    hooks, readers, sessions, type_, code, applied
):
    answer = post_postmark(hooks, postmark_bounce("r0@example.org", type_, code))
    assert answer.status_code == 200
    assert applied in answer.json()["actions"][0]["action"]
    assert statuses(sessions) == UNCHANGED


def test_a_postmark_delivery_event_is_not_a_bounce(hooks, readers, sessions):
    answer = post_postmark(hooks, {"RecordType": "Delivery", "Recipient": "r0@example.org"})
    assert answer.status_code == 200 and answer.json()["changed"] == 0
    assert statuses(sessions) == UNCHANGED


@pytest.mark.parametrize(
    "headers, status, words",
    [
        ({}, 401, "Basic credentials are required"),
        ({"Authorization": "Bearer whatever"}, 401, "Basic credentials are required"),
        (basic("postmark-hook:wrong"), 403, "wrong Basic credentials"),
        (basic("postmark-hook"), 403, "wrong Basic credentials"),
        ({"Authorization": "Basic %%%"}, 403, "not base64"),
    ],
)
def test_postmark_without_the_right_credentials_is_refused(
    hooks, readers, sessions, headers, status, words
):
    answer = hooks.post(
        "/webhooks/bounces/postmark", json=postmark_bounce("r0@example.org"), headers=headers
    )
    assert_refused(answer, status, words, sessions)
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b'{"RecordType": "Bounce", ', 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"[]", 422, "not a Postmark webhook payload"),
        (b'{"Type": "HardBounce", "Email": "r0@example.org"}', 422, "RecordType"),
        (b'{"RecordType": "Bounce", "TypeCode": "one"}', 422, "TypeCode"),
    ],
)
def test_a_malformed_postmark_body_is_refused(hooks, readers, sessions, body, status, words):
    headers = {**basic(POSTMARK_AUTH), "Content-Type": "application/json"}
    answer = hooks.post("/webhooks/bounces/postmark", content=body, headers=headers)
    assert_refused(answer, status, words, sessions)


# --- Mailgun -------------------------------------------------------------------------------------


def mailgun_event(email: str, event: str = "failed", severity: str = "permanent", **extra) -> dict:
    """`event-data` as Mailgun's documentation shows it."""
    return {
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": NOW - 2,
        "event": event,
        "severity": severity,
        "reason": "bounce",
        "recipient": email,
        "envelope": {"sender": "digest@news.example.org", "targets": email},
        "delivery-status": {
            "code": 550,
            "message": "5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
        },
        "message": {"headers": {"message-id": "20261130085950.1.mailgun@news.example.org"}},
        **extra,
    }


def post_mailgun(client: TestClient, body: bytes) -> Any:
    return client.post(
        "/webhooks/bounces/mailgun", content=body, headers={"Content-Type": "application/json"}
    )


def test_a_mailgun_permanent_failure_bounces_the_reader(hooks, readers, sessions):
    body = mailgun_signed(MAILGUN_KEY, mailgun_event("r0@example.org"), timestamp=NOW, token="t1")
    answer = post_mailgun(hooks, body)
    assert answer.status_code == 200, answer.text
    assert "bounced (5.1.1)" in answer.json()["actions"][0]["action"]
    assert statuses(sessions) == {"r0@example.org": "bounced", "r1@example.org": "confirmed"}


@pytest.mark.parametrize("provider", ["mailgun", "sendgrid"])
def test_our_message_id_in_the_event_marks_the_digest_delivery(
    hooks, readers, sessions, db, sendgrid_key, provider
):
    reader = readers[0]
    issue = _sent(db, reader)
    message_id = f"digest.{issue.id}.{reader.id}@news.example.org"
    if provider == "mailgun":
        event = mailgun_event(reader.email, message={"headers": {"message-id": message_id}})
        answer = post_mailgun(hooks, mailgun_signed(MAILGUN_KEY, event, timestamp=NOW, token="m"))
    else:
        event = sendgrid_event(
            reader.email, "bounce", status="5.1.1", **{"smtp-id": f"<{message_id}>"}
        )
        answer = post_sendgrid(hooks, sendgrid_key, [event])
    assert answer.status_code == 200, answer.text
    assert f"issue {issue.id}'s delivery marked bounced" in answer.json()["actions"][0]["action"]
    with sessions() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.issue_id == issue.id)).one()
        assert delivery.state == "bounced"


def test_a_mailgun_temporary_failure_does_not_suppress(hooks, readers, sessions):
    event = mailgun_event("r0@example.org", severity="temporary")
    event["delivery-status"] = {"code": 452, "message": "4.2.2 Mailbox full"}
    answer = post_mailgun(hooks, mailgun_signed(MAILGUN_KEY, event, timestamp=NOW, token="t2"))
    assert answer.json()["actions"][0]["kind"] == "soft"
    assert statuses(sessions) == UNCHANGED


def test_a_mailgun_complaint_marks_the_reader_complained(hooks, readers, sessions):
    event = {"event": "complained", "recipient": "r1@example.org", "id": "c-1"}
    answer = post_mailgun(hooks, mailgun_signed(MAILGUN_KEY, event, timestamp=NOW, token="t3"))
    assert answer.json()["changed"] == 1
    assert statuses(sessions)["r1@example.org"] == "complained"


def test_a_mailgun_open_event_is_not_applied(hooks, readers, sessions):
    event = {"event": "opened", "recipient": "r1@example.org"}
    answer = post_mailgun(hooks, mailgun_signed(MAILGUN_KEY, event, timestamp=NOW, token="t4"))
    assert answer.status_code == 200 and "not applied" in answer.json()["actions"][0]["action"]
    assert statuses(sessions) == UNCHANGED


@pytest.mark.parametrize(
    "key, timestamp, words",
    [
        ("another-signing-key", NOW, "signature does not match"),
        (MAILGUN_KEY, NOW - 301, "more than 5 minutes"),
        (MAILGUN_KEY, NOW + 301, "more than 5 minutes"),
    ],
)
def test_a_mailgun_request_with_a_wrong_key_or_stale_time_is_refused(
    hooks, readers, sessions, key, timestamp, words
):
    body = mailgun_signed(key, mailgun_event("r0@example.org"), timestamp=timestamp, token="t5")
    assert_refused(post_mailgun(hooks, body), 403, words, sessions)


def test_a_replayed_mailgun_request_is_refused(hooks, readers, sessions):
    body = mailgun_signed(MAILGUN_KEY, mailgun_event("r0@example.org"), timestamp=NOW, token="t6")
    assert post_mailgun(hooks, body).status_code == 200
    again = post_mailgun(hooks, body)
    assert again.status_code == 403 and "used before" in again.json()["detail"]
    assert bounce_events(sessions) == 1


def test_a_tampered_mailgun_event_is_refused_only_by_its_token(hooks, readers, sessions):
    # Mailgun signs timestamp and token, not the event: a fresh token cannot be made without
    # the key, and a seen one is refused. Here the signature itself is altered.
    body = json.loads(
        mailgun_signed(MAILGUN_KEY, mailgun_event("r0@example.org"), timestamp=NOW, token="t7")
    )
    body["signature"]["signature"] = "0" * 64
    assert_refused(post_mailgun(hooks, json.dumps(body).encode()), 403, "does not match", sessions)


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"event-data": {"event": "failed"}}', 401, "no Mailgun signature"),
        (b"[1, 2]", 401, "no Mailgun signature"),
        (b'{"signature": {"timestamp": "soon", "token": "t", "signature": "s"}}', 422, "timestamp"),
        (b'{"signature": "yes"}', 422, "not a Mailgun signature"),
    ],
)
def test_a_malformed_mailgun_body_is_refused(hooks, readers, sessions, body, status, words):
    assert_refused(post_mailgun(hooks, body), status, words, sessions)


def test_a_signed_mailgun_body_without_event_data_is_refused(hooks, readers, sessions):
    body = json.loads(mailgun_signed(MAILGUN_KEY, {}, timestamp=NOW, token="t8"))
    del body["event-data"]
    assert_refused(post_mailgun(hooks, json.dumps(body).encode()), 422, "event-data", sessions)


# --- SendGrid ------------------------------------------------------------------------------------


def post_sendgrid(client: TestClient, key: Any, events: Any, timestamp: str = str(NOW)) -> Any:
    body = json.dumps(events).encode()
    headers = sendgrid_headers(key, body, timestamp)
    return client.post("/webhooks/bounces/sendgrid", content=body, headers=headers)


def sendgrid_event(email: str, event: str, **fields: Any) -> dict:
    return {
        "email": email,
        "timestamp": NOW - 5,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "sg_event_id": f"sg-{event}-{email}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **fields,
    }


def test_a_signed_sendgrid_batch_applies_each_event(hooks, readers, sessions, sendgrid_key):
    events = [
        sendgrid_event("r0@example.org", "processed"),
        sendgrid_event("r0@example.org", "bounce", type="bounce", status="5.1.1", reason="550"),
        sendgrid_event("r1@example.org", "spamreport"),
        sendgrid_event("r1@example.org", "deferred", response="400 try again later"),
    ]
    answer = post_sendgrid(hooks, sendgrid_key, events)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["processed"], body["changed"]) == (4, 2)
    assert statuses(sessions) == {"r0@example.org": "bounced", "r1@example.org": "complained"}


@pytest.mark.parametrize(
    "fields, status",
    [
        ({"event": "bounce", "type": "blocked", "status": "5.7.1"}, "confirmed"),
        ({"event": "bounce", "type": "bounce", "status": "4.2.2"}, "confirmed"),
        ({"event": "dropped", "reason": "Bounced Address"}, "bounced"),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, "complained"),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, "confirmed"),
    ],
)
def test_sendgrid_event_kinds(hooks, readers, sessions, sendgrid_key, fields, status):
    event = {**sendgrid_event("r0@example.org", "x"), **fields}
    assert post_sendgrid(hooks, sendgrid_key, [event]).status_code == 200
    assert statuses(sessions)["r0@example.org"] == status


def test_a_sendgrid_batch_signed_with_another_key_is_refused(hooks, readers, sessions):
    events = [sendgrid_event("r0@example.org", "spamreport")]
    assert_refused(post_sendgrid(hooks, ec_key(), events), 403, "does not match", sessions)


def test_a_tampered_sendgrid_batch_is_refused(hooks, readers, sessions, sendgrid_key):
    signed = json.dumps([sendgrid_event("r1@example.org", "spamreport")]).encode()
    headers = sendgrid_headers(sendgrid_key, signed, str(NOW))
    sent = signed.replace(b"r1@", b"r0@")
    answer = hooks.post("/webhooks/bounces/sendgrid", content=sent, headers=headers)
    assert_refused(answer, 403, "does not match", sessions)


def test_a_sendgrid_signature_over_another_timestamp_is_refused(
    hooks, readers, sessions, sendgrid_key
):
    body = json.dumps([sendgrid_event("r0@example.org", "spamreport")]).encode()
    headers = sendgrid_headers(sendgrid_key, body, str(NOW))
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(NOW + 1)
    answer = hooks.post("/webhooks/bounces/sendgrid", content=body, headers=headers)
    assert_refused(answer, 403, "does not match", sessions)


@pytest.mark.parametrize("drop", ["Signature", "Timestamp"])
def test_sendgrid_without_its_headers_is_refused(hooks, readers, sessions, sendgrid_key, drop):
    body = json.dumps([sendgrid_event("r0@example.org", "spamreport")]).encode()
    headers = sendgrid_headers(sendgrid_key, body, str(NOW))
    del headers[f"X-Twilio-Email-Event-Webhook-{drop}"]
    answer = hooks.post("/webhooks/bounces/sendgrid", content=body, headers=headers)
    assert_refused(answer, 401, "headers are required", sessions)


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b'[{"event": "bounce"', 400, "not valid JSON"),
        (b'{"event": "bounce", "email": "r0@example.org"}', 422, "list of SendGrid events"),
        (b'[{"email": "r0@example.org"}]', 422, "event"),
        (b"[42]", 422, "list of SendGrid events"),
    ],
)
def test_a_malformed_signed_sendgrid_body_is_refused(
    hooks, readers, sessions, sendgrid_key, body, status, words
):
    headers = sendgrid_headers(sendgrid_key, body, str(NOW))
    answer = hooks.post("/webhooks/bounces/sendgrid", content=body, headers=headers)
    assert_refused(answer, status, words, sessions)


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _der_base64(key: Any) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize("form", ["pem", "garbage", "rsa"])
def test_the_sendgrid_key_may_be_pem_and_a_bad_one_is_our_fault(
    hook_settings, sessions, cert_server, frozen_clock, readers, sendgrid_key, form
):
    keys = {"pem": _pem(sendgrid_key), "garbage": "not a key", "rsa": _der_base64(rsa_key())}
    settings = hook_settings.model_copy(update={"webhook_sendgrid_key": keys[form]})
    events = [sendgrid_event("r0@example.org", "spamreport")]
    with _client(settings, sessions, cert_server) as client:
        answer = post_sendgrid(client, sendgrid_key, events)
    if form == "pem":
        assert answer.status_code == 200 and answer.json()["changed"] == 1
    else:
        assert_refused(answer, 503, "DIGEST_WEBHOOK_SENDGRID_KEY", sessions)


# --- what every provider shares ------------------------------------------------------------------


def test_an_unknown_provider_is_not_found(hooks, readers, sessions):
    answer = hooks.post("/webhooks/bounces/sparkpost", json={"event": "bounce"})
    assert_refused(answer, 404, "no webhook provider 'sparkpost'", sessions)


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid"])
def test_a_provider_without_its_setting_is_not_found(
    settings, sessions, cert_server, readers, provider
):
    # Even with valid-looking credentials: an unset provider does not exist.
    with _client(settings, sessions, cert_server) as client:
        answer = client.post(f"/webhooks/bounces/{provider}", json={}, headers=basic(POSTMARK_AUTH))
    assert_refused(answer, 404, "not enabled", sessions)


def test_an_oversized_body_is_refused_before_it_is_read(hooks, readers, sessions):
    huge = b"[" + b" " * 1_000_001 + b"]"
    answer = hooks.post("/webhooks/bounces/postmark", content=huge, headers=basic(POSTMARK_AUTH))
    assert_refused(answer, 413, "larger than 1,000,000 bytes", sessions)


def test_an_oversized_body_without_a_length_is_refused_while_read(hooks, readers, sessions):
    chunks = (b" " * 100_000 for _ in range(11))  # streamed: no Content-Length
    answer = hooks.post("/webhooks/bounces/postmark", content=chunks, headers=basic(POSTMARK_AUTH))
    assert_refused(answer, 413, "larger than", sessions)


def test_webhooks_need_no_admin_login_and_no_csrf(hooks, readers, sessions):
    hooks.cookies.clear()
    answer = post_postmark(hooks, postmark_bounce("r0@example.org"))
    assert answer.status_code == 200 and "csrf" not in answer.text.lower()


def test_the_route_is_documented_with_its_answer_and_refusals(hooks):
    spec = hooks.get("/openapi.json").json()
    operation = spec["paths"]["/webhooks/bounces/{provider}"]["post"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/WebhookAnswer")
    for status in ("400", "401", "403", "404", "413", "422"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/Problem")
    assert operation["parameters"][0]["schema"]["enum"] == [
        "ses",
        "postmark",
        "mailgun",
        "sendgrid",
    ]
    assert "text/plain" in operation["requestBody"]["content"]
