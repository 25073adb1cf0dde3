"""app.delivery transports (smtp, outbox, messenger, transports) against a real in-process SMTP
server and a real outbox folder."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config import Settings
from app.delivery.messenger import transport_from_settings
from app.delivery.outbox import OutboxTransport
from app.delivery.smtp import SMTPTransport
from app.delivery.transports import (
    DeliveryError,
    HardBounce,
    OutcomeUnknown,
    PermanentFailure,
    TemporaryFailure,
    TransportUnavailable,
    Verdict,
    retry_delay,
    verdict,
)
from app.mailservers import parse_smtp_url
from tests.smtp_server import SMTPTestServer

SENDER = "Weekly Digest <digest@example.org>"


def make_message(recipient: str, subject: str = "Your weekly top 10", body: str = "") -> bytes:
    """Finished message bytes, CRLF line endings, the way the renderer hands them over."""
    lines = [
        f"From: {SENDER}",
        f"To: {recipient}",
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body or f"Hello {recipient}, here are this week's posts.",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- plain SMTP --------------------------------------------------------------------------------


def test_several_messages_go_over_one_connection(smtp_server: SMTPTestServer) -> None:
    recipients = [f"reader{i}@example.net" for i in range(5)]
    sent = {address: make_message(address) for address in recipients}
    with SMTPTransport(smtp_server.url()) as transport:
        for address, message in sent.items():
            transport.send(sender=SENDER, recipient=address, message=message)

    received = smtp_server.wait_for(5)
    assert smtp_server.session_count == 1
    assert {message.session for message in received} == {1}
    assert [message.rcpt_tos for message in received] == [[address] for address in recipients]
    assert {message.mail_from for message in received} == {"digest@example.org"}
    assert all(message.data == sent[message.rcpt_tos[0]] for message in received)
    assert received[2].message["To"] == recipients[2]


def test_bytes_arrive_unchanged(smtp_server: SMTPTestServer) -> None:
    # Leading dots need SMTP transparency; 8-bit UTF-8 must not be re-encoded.
    body = ".starts with a dot\r\n..two dots\r\n.\r\nÉnergie — 10 posts ✓\r\n\r\ntrailing"
    message = make_message("a@example.net", body=body)
    unterminated = message.rstrip(b"\r\n")
    with SMTPTransport(smtp_server.url()) as transport:
        transport.send(sender=SENDER, recipient="a@example.net", message=message)
        transport.send(sender=SENDER, recipient="b@example.net", message=unterminated)

    first, second = smtp_server.wait_for(2)
    assert first.data == message
    # aiosmtpd keeps every line's CRLF; a message without a final CRLF gains exactly one.
    assert second.data == unterminated + b"\r\n"
    assert "Énergie — 10 posts ✓" in first.message.get_content()


def test_server_closing_idle_connection_is_reconnected(smtp_server: SMTPTestServer) -> None:
    with SMTPTransport(smtp_server.url()) as transport:
        transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a@x.org"))
        smtp_server.drop_connections()
        transport.send(sender=SENDER, recipient="b@example.net", message=make_message("b@x.org"))

    received = smtp_server.wait_for(2)
    assert [message.session for message in received] == [1, 2]


def test_connection_refused_is_transport_unavailable() -> None:
    transport = SMTPTransport(f"smtp://127.0.0.1:{free_port()}?timeout=2")
    with pytest.raises(TransportUnavailable, match="cannot use SMTP server"):
        transport.__enter__()


def test_starttls_required_but_not_offered(smtp_server: SMTPTestServer) -> None:
    with pytest.raises(TransportUnavailable, match="STARTTLS"):
        SMTPTransport(smtp_server.url(starttls="true")).__enter__()
    assert smtp_server.messages == []


# --- TLS and authentication --------------------------------------------------------------------


def test_starttls_with_auth_and_verified_certificate(smtp_server_factory) -> None:
    server = smtp_server_factory(tls="starttls", auth=("digest", "p@ss:w/rd%"))
    url = server.url().replace("verify=false", "verify=true")
    assert parse_smtp_url(url).password == "p@ss:w/rd%"
    with SMTPTransport(url, ssl_context=server.client_ssl_context()) as transport:
        transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a@x.org"))

    (received,) = server.wait_for(1)
    assert received.tls and received.authenticated


def test_untrusted_certificate_is_refused(smtp_server_factory) -> None:
    server = smtp_server_factory(tls="starttls")
    url = server.url().replace("verify=false", "verify=true")
    with pytest.raises(TransportUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        SMTPTransport(url).__enter__()


def test_smtps_implicit_tls(smtp_server_factory) -> None:
    server = smtp_server_factory(tls="implicit", auth=("digest", "secret"))
    assert server.url().startswith("smtps://")
    with SMTPTransport(server.url()) as transport:
        for address in ("a@example.net", "b@example.net"):
            transport.send(sender=SENDER, recipient=address, message=make_message(address))

    received = server.wait_for(2)
    assert all(message.tls and message.authenticated for message in received)
    assert server.session_count == 1


def test_wrong_password_is_transport_unavailable(smtp_server_factory) -> None:
    server = smtp_server_factory(tls="starttls", auth=("digest", "secret"))
    with pytest.raises(TransportUnavailable, match="authentication failed") as caught:
        SMTPTransport(server.url(user="digest", password="wrong")).__enter__()
    assert caught.value.code == 535
    assert server.messages == []


def test_missing_credentials_pause_instead_of_failing_recipients(smtp_server_factory) -> None:
    server = smtp_server_factory(auth=("digest", "secret"))
    no_user = SMTPTransport(f"smtp://{server.host}:{server.port}")
    with no_user as transport, pytest.raises(TransportUnavailable) as caught:
        transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a@x"))
    assert caught.value.code == 530
    assert server.messages == []


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 4.3.0 Try again later", TemporaryFailure),
        ("550 5.1.1 User unknown", HardBounce),
        ("550 Requested action not taken: mailbox unavailable", HardBounce),
        ("554 5.7.1 Rejected", PermanentFailure),
        ("553 5.1.8 Sender domain does not exist", PermanentFailure),
        ("552 5.2.2 Mailbox full", PermanentFailure),
    ],
)
def test_rcpt_refusal_is_classified_and_connection_stays_usable(
    smtp_server: SMTPTestServer, reply: str, error: type[Exception]
) -> None:
    smtp_server.faults["bad@example.net"] = reply
    with SMTPTransport(smtp_server.url()) as transport:
        with pytest.raises(error) as caught:
            transport.send(sender=SENDER, recipient="bad@example.net", message=make_message("b"))
        transport.send(sender=SENDER, recipient="good@example.net", message=make_message("g"))

    assert type(caught.value) is error  # HardBounce is a PermanentFailure, and vice versa not
    assert caught.value.code == int(reply[:3]) and caught.value.reply == reply[4:]
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["good@example.net"]
    assert smtp_server.session_count == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TemporaryFailure("4.2.1 Try later", 451), Verdict.RETRY),
        (HardBounce("5.1.1 User unknown", 550), Verdict.BOUNCED),
        (PermanentFailure("5.7.1 Rejected", 554), Verdict.FAILED),
        (OutcomeUnknown("connection lost after the message data"), Verdict.UNKNOWN),
        (TransportUnavailable("authentication failed", 535), Verdict.UNAVAILABLE),
        (DeliveryError("something else"), Verdict.FAILED),
        (ValueError("recipient 'x' is not a usable email address"), Verdict.FAILED),
    ],
)
def test_verdict_says_what_each_error_means_for_the_reader(
    error: Exception, expected: Verdict
) -> None:
    assert verdict(error) is expected


def test_retry_delays_run_out_after_one_try_each() -> None:
    delays = [15, 60, 180]
    assert [retry_delay(delays, tries) for tries in (1, 2, 3, 4, 5)] == [15, 60, 180, None, None]
    assert retry_delay([], 1) is None


def test_fault_rule_can_match_by_callable(smtp_server: SMTPTestServer) -> None:
    smtp_server.faults[lambda address: address.endswith("@gone.example")] = "550 5.1.2 No domain"
    bounced = []
    with SMTPTransport(smtp_server.url()) as transport:
        for address in ("a@gone.example", "b@here.example", "c@gone.example"):
            try:
                transport.send(sender=SENDER, recipient=address, message=make_message(address))
            except HardBounce:
                bounced.append(address)
    assert bounced == ["a@gone.example", "c@gone.example"]
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["b@here.example"]]


def test_fail_next_then_accept(smtp_server: SMTPTestServer) -> None:
    smtp_server.fail_next(2)
    outcomes = []
    with SMTPTransport(smtp_server.url()) as transport:
        for _ in range(3):
            try:
                transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
                outcomes.append("sent")
            except TemporaryFailure as error:
                outcomes.append(error.code)
    assert outcomes == [451, 451, "sent"]
    assert len(smtp_server.wait_for(1)) == 1


def test_421_closes_and_next_message_reconnects(smtp_server: SMTPTestServer) -> None:
    smtp_server.faults.reject("a@example.net", "421 4.7.0 Too many messages, closing", times=1)
    with SMTPTransport(smtp_server.url()) as transport:
        with pytest.raises(TemporaryFailure):
            transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
        transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
    assert smtp_server.wait_for(1)[0].session == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("452 4.3.1 Insufficient storage", TemporaryFailure),
        ("554 5.6.0 Bad content", PermanentFailure),
    ],
)
def test_refusal_after_data(
    smtp_server: SMTPTestServer, reply: str, error: type[Exception]
) -> None:
    smtp_server.faults.reject("a@example.net", reply, stage="data")
    with SMTPTransport(smtp_server.url()) as transport:
        with pytest.raises(error):
            transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
        transport.send(sender=SENDER, recipient="b@example.net", message=make_message("b"))
    assert [message.rcpt_tos for message in smtp_server.wait_for(1)] == [["b@example.net"]]


# --- broken connections and timeouts -----------------------------------------------------------


def test_drop_after_data_is_outcome_unknown(smtp_server: SMTPTestServer) -> None:
    smtp_server.faults.drop_after_data("a@example.net")
    with SMTPTransport(smtp_server.url()) as transport:
        with pytest.raises(OutcomeUnknown):
            transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
        transport.send(sender=SENDER, recipient="b@example.net", message=make_message("b"))
    # The server did take the first message: that is exactly why the outcome is "unknown".
    received = smtp_server.wait_for(2)
    assert [(m.rcpt_tos, m.session) for m in received] == [
        (["a@example.net"], 1),
        (["b@example.net"], 2),
    ]


def test_drop_before_data_on_reused_connection_retries_once(smtp_server: SMTPTestServer) -> None:
    with SMTPTransport(smtp_server.url()) as transport:
        transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
        smtp_server.faults.add("b@example.net", drop=True, times=1)
        transport.send(sender=SENDER, recipient="b@example.net", message=make_message("b"))
        smtp_server.faults.add("c@example.net", drop=True, times=2)
        with pytest.raises(TransportUnavailable, match="hung up"):
            transport.send(sender=SENDER, recipient="c@example.net", message=make_message("c"))
    received = smtp_server.wait_for(2)
    assert [(m.rcpt_tos, m.session) for m in received] == [
        (["a@example.net"], 1),
        (["b@example.net"], 2),
    ]


@pytest.mark.parametrize(
    ("stage", "error"), [("rcpt", TransportUnavailable), ("data", OutcomeUnknown)]
)
def test_slow_reply_beyond_timeout(smtp_server: SMTPTestServer, stage: str, error: type) -> None:
    smtp_server.faults.slow("a@example.net", 3, stage=stage)
    started = time.monotonic()
    with SMTPTransport(smtp_server.url(timeout="0.5")) as transport, pytest.raises(error):
        transport.send(sender=SENDER, recipient="a@example.net", message=make_message("a"))
    assert 0.4 < time.monotonic() - started < 2


# --- URLs and settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.org", "scheme"),
        ("mail.example.org:25", "scheme"),
        ("smtp://user:hunter2@:25", "host"),
        ("smtp://user:hunter2@mail.example.org:port", "port"),
        ("smtp://mail.example.org:70000", "port"),
        ("smtp://mail.example.org:0", "port"),
        ("smtp://mail.example.org?startls=true", "unknown option"),
        ("smtp://mail.example.org?starttls=maybe", "true or false"),
        ("smtp://mail.example.org?timeout=-1", "timeout"),
        ("smtps://mail.example.org?starttls=true", "already TLS"),
    ],
)
def test_bad_smtp_url(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        parse_smtp_url(url)
    assert "hunter2" not in str(caught.value)


def test_smtp_url_defaults_and_decoding() -> None:
    plain = parse_smtp_url("smtp://mail.example.org")
    assert (plain.port, plain.starttls, plain.implicit_tls, plain.username) == (
        25,
        False,
        False,
        "",
    )
    submission = parse_smtp_url("smtp://me%40example.org:a%2Fb%3A@Mail.Example.org?starttls=1")
    assert (submission.host, submission.port, submission.starttls) == (
        "mail.example.org",
        587,
        True,
    )
    assert (submission.username, submission.password) == ("me@example.org", "a/b:")
    assert "a/b:" not in repr(submission)
    tls = parse_smtp_url("smtps://u:p@[::1]:2465?timeout=2.5&verify=false")
    assert (tls.host, tls.port, tls.implicit_tls, tls.timeout, tls.verify) == (
        "::1",
        2465,
        True,
        2.5,
        False,
    )


def test_envelope_addresses_are_checked(smtp_server: SMTPTestServer) -> None:
    with SMTPTransport(smtp_server.url()) as transport:
        with pytest.raises(ValueError, match="line break"):
            transport.send(sender=SENDER, recipient="a@x.org\r\nRCPT TO:<b@x.org>", message=b"x")
        with pytest.raises(ValueError, match="not a usable"):
            transport.send(sender="Weekly Digest", recipient="a@x.org", message=b"x")
    assert smtp_server.messages == []


def test_transport_from_settings(tmp_path: Path) -> None:
    smtp = transport_from_settings(Settings(smtp_url="smtps://u:p@mail.example.org"))
    assert isinstance(smtp, SMTPTransport) and smtp.config.port == 465
    outbox = transport_from_settings(Settings(smtp_url="", var_dir=tmp_path))
    assert isinstance(outbox, OutboxTransport) and outbox.folder == tmp_path / "outbox"


# --- outbox ------------------------------------------------------------------------------------


def test_outbox_writes_whole_sorted_unique_files(tmp_path: Path) -> None:
    times = iter(
        [datetime(2026, 11, 29, 6, 0, 0, tzinfo=UTC)] * 3
        + [datetime(2026, 11, 29, 6, 0, 1, tzinfo=UTC)]
    )
    folder = tmp_path / "outbox"
    recipients = ["Ann@example.org", "bob@example.org", "ann@example.org", "cy@example.org"]
    with OutboxTransport(folder, clock=lambda: next(times)) as outbox:
        paths = [
            outbox.write(sender=SENDER, recipient=r, message=make_message(r)) for r in recipients
        ]

    names = sorted(os.listdir(folder))
    assert names == [path.name for path in paths]  # written order == sorted order, nothing else
    assert names[0] == "20261129T060000Z-000001-ann-at-example.org.eml"
    assert names[3].startswith("20261129T060001Z-000001-")
    for path, recipient in zip(paths, recipients, strict=True):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert parsed["X-Envelope-To"] == f"<{recipient}>"
        assert parsed["To"] == recipient
        assert path.read_bytes().endswith(make_message(recipient))


def test_outbox_never_overwrites_another_writer(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 29, 6, 0, 0, tzinfo=UTC) + timedelta(microseconds=5)
    first = OutboxTransport(tmp_path, clock=lambda: moment)
    second = OutboxTransport(tmp_path, clock=lambda: moment)
    a = first.write(sender=SENDER, recipient="a@example.org", message=make_message("a@x"))
    b = second.write(sender=SENDER, recipient="a@example.org", message=make_message("b@x"))
    assert a != b and a.name.split("-")[1] == "000001" and b.name.split("-")[1] == "000002"
    assert b"To: a@x" in a.read_bytes() and b"To: b@x" in b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.name, b.name])


def test_outbox_unwritable_folder_is_transport_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransportUnavailable, match="outbox"):
        OutboxTransport(blocker / "outbox").send(sender=SENDER, recipient="a@x.org", message=b"x")
