"""read_message on real bounces and complaints (tests/data/bounces, see its README) and on junk."""

from __future__ import annotations

import json
import random
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from app.bounces.reports import MAX_BYTES, read_message
from app.models import BounceKind
from app.tokens import MailRef, bounce_token

DATA = Path(__file__).parent / "data" / "bounces"
LABELS = json.loads((DATA / "labels.json").read_text())
TOKEN = bounce_token(["test-key"], MailRef(kind="digest", issue_id=12, subscriber_id=3456))
OTHER_TOKEN = bounce_token(["test-key"], MailRef(kind="welcome", issue_id=None, subscriber_id=77))
VERP = f"bounces+{TOKEN}@news.example.org"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def replace_header(raw: bytes, name: str, value: str, *, occurrence: int = 0) -> bytes:
    """The raw message with the n-th `name:` header line (outer first) set to `value`."""
    pattern = re.compile(rb"^" + name.encode() + rb":[^\n]*$", re.IGNORECASE | re.MULTILINE)
    matches = list(pattern.finditer(raw))
    match = matches[occurrence]
    return raw[: match.start()] + f"{name}: {value}".encode() + raw[match.end() :]


# --- the committed real samples -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LABELS))
def test_sample_reads_as_labelled(name: str) -> None:
    label = LABELS[name]
    reading = read_message(sample(name))
    kinds = {str(report.kind) for report in reading.reports} or {"none"}
    if label["kinds"] == ["failure"]:  # flufl.bounce's labels say "permanent", not hard or soft
        assert kinds <= {"hard", "soft"} and kinds, reading
    else:
        assert kinds == set(label["kinds"]), reading
    recipients = {(report.recipient or "").lower() for report in reading.reports}
    assert {r.lower() for r in label.get("recipients", [])} <= recipients, reading
    if kinds == {"none"}:
        assert reading.note, "a reading without reports says why"


def test_postfix_dsn_gives_one_report_per_failed_recipient() -> None:
    reading = read_message(sample("sisimai-lhost-postfix-13.eml"))
    assert [(r.kind, r.recipient, r.status) for r in reading.reports] == [
        (BounceKind.HARD, "kijitora@example.jp", "5.2.1"),
        (BounceKind.HARD, "noraneko@example.jp", "5.2.2"),
    ]
    first = reading.reports[0]
    assert first.diagnostic == "550 5.2.1 <kijitora@example.jp>... User Unknown"
    assert first.message_id == "<20150213024748.CEEDB20C16@2jo.example.jp>"  # the returned mail
    assert first.reference == "<20150213024749.815C320C1A@2jo.example.jp>"  # the DSN itself


def test_dsn_with_a_4xx_status_is_soft() -> None:
    (report,) = read_message(sample("sisimai-lhost-postfix-05.eml")).reports
    assert (report.kind, report.status, report.recipient) == (
        BounceKind.SOFT,
        "4.1.1",
        "kijitora@example.org",
    )


def test_exim_bounce_read_by_flufl_with_its_status() -> None:
    reading = read_message(sample("sisimai-lhost-exim-01.eml"))
    (report,) = reading.reports
    assert (report.kind, report.status, report.recipient) == (
        BounceKind.HARD,
        "5.7.0",
        "kijitora@example.ed.jp",
    )
    assert "flufl.bounce" in reading.note
    assert report.message_id  # from the headers Exim quotes in its text


def test_exim_retry_timeout_is_a_soft_failure() -> None:
    (report,) = read_message(sample("sisimai-lhost-exim-06.eml")).reports
    assert report.kind == BounceKind.SOFT
    assert "retry timeout exceeded" in (report.diagnostic or "")


def test_arf_report_gives_one_complaint_per_original_recipient() -> None:
    reading = read_message(sample("sisimai-arf-16.eml"))
    assert {r.kind for r in reading.reports} == {BounceKind.COMPLAINT}
    assert len(reading.reports) == 7
    assert reading.reports[0].recipient == "kijitora@example.com"
    assert reading.reports[0].status is None
    assert reading.reports[0].message_id == "<ffffffffffffffffffffffff0000000@example.jp>"


def test_arf_auth_failure_report_is_not_a_complaint() -> None:
    reading = read_message(sample("sisimai-arf-18.eml"))
    assert reading.reports == ()
    assert "authentication failure" in reading.note


# RFC 5965 Appendix B.1, "Simple Report" (the specification's own example), with a VERP sender.
RFC5965_EXAMPLE = f"""\
From: <abusedesk@example.com>
Date: Thu, 8 Mar 2005 17:40:36 EDT
Subject: FW: Earn money
To: <abuse@example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.  For more information
about this format please see http://www.mipassoc.org/arf/.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

Received: from mailserver.example.net
        (mailserver.example.net [192.0.2.1])
        by example.com with ESMTP id M63d4137594e46;
        Thu, 08 Mar 2005 14:00:00 -0400
Return-Path: <{VERP}>
From: <somesender@example.net>
To: <Undisclosed Recipients>
Subject: Earn money
MIME-Version: 1.0
Content-type: text/plain
Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@example.net>
Date: Thu, 02 Sep 2004 12:31:03 -0500

Spam Spam Spam
--part1_13d.2e68ed54_boundary--
""".encode()


def test_rfc5965_example_is_a_complaint_with_the_token_from_return_path() -> None:
    reading = read_message(RFC5965_EXAMPLE)
    (report,) = reading.reports
    assert report.kind == BounceKind.COMPLAINT
    assert report.recipient is None  # no Original-Rcpt-To, and the To names nobody
    assert report.message_id == "<8787KJKJ3K4J3K4J3K4J3.mail@example.net>"
    assert report.tokens == (TOKEN,) == reading.tokens


def test_arf_not_spam_gives_no_report() -> None:
    raw = replace_header(sample("sisimai-arf-01.eml"), "Feedback-Type", "not-spam")
    reading = read_message(raw)
    assert reading.reports == ()
    assert "not-spam" in reading.note


# --- VERP tokens --------------------------------------------------------------------------------


def test_token_in_the_dsn_to_header() -> None:
    raw = replace_header(sample("sisimai-lhost-postfix-01.eml"), "To", VERP)
    reading = read_message(raw)
    (report,) = reading.reports
    assert report.tokens == (TOKEN,)
    assert reading.tokens == (TOKEN,)
    assert report.kind == BounceKind.HARD


def test_token_in_the_return_path_exim_quotes_in_its_text() -> None:
    raw = sample("sisimai-lhost-exim-01.eml")
    assert read_message(raw).tokens == ()
    raw = replace_header(raw, "Return-path", f"<{VERP.upper()}>")
    reading = read_message(raw)
    assert reading.tokens == (TOKEN,)  # found case-insensitively, handed on lower-cased
    assert reading.reports[0].tokens == (TOKEN,)
    assert reading.reports[0].recipient == "kijitora@example.ed.jp"


def test_token_in_an_envelope_header_of_a_flufl_bounce() -> None:
    raw = sample("flufl-qmail_01.eml").replace(b"\n\n", f"\nX-Envelope-To: {VERP}\n\n".encode(), 1)
    reading = read_message(raw)
    assert reading.tokens == (TOKEN,)
    assert [r.tokens for r in reading.reports] == [(TOKEN,)]


def test_tokens_keep_their_order_outer_headers_first() -> None:
    raw = sample("sisimai-lhost-postfix-13.eml")
    raw = replace_header(
        raw, "Return-Path", f"<bounces+{OTHER_TOKEN}@news.example.org>", occurrence=1
    )
    raw = replace_header(raw, "To", VERP)
    reading = read_message(raw)
    assert reading.tokens == (TOKEN, OTHER_TOKEN)
    assert all(report.tokens == (TOKEN, OTHER_TOKEN) for report in reading.reports)


def test_token_quoted_only_in_a_base64_text_part() -> None:
    message = EmailMessage()
    message["From"] = "MAILER-DAEMON@mx.example.com"
    message["To"] = "bounces@news.example.org"
    message["Subject"] = "Undelivered Mail Returned to Sender"
    message.set_content(
        f"Your message to <gone@example.com> from <{VERP}> could not be delivered.\n"
        "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown\n",
        cte="base64",
    )
    reading = read_message(message.as_bytes())
    assert reading.tokens == (TOKEN,)
    (report,) = reading.reports
    assert (report.kind, report.status) == (BounceKind.HARD, "5.1.1")


# --- no report, and why -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["sisimai-lhost-gmail-06.eml", "sisimai-lhost-opensmtpd-12.eml", "flufl-dsn_05.eml"]
)
def test_delay_warnings_give_no_report(name: str) -> None:
    reading = read_message(sample(name))
    assert reading.reports == ()
    assert reading.note == "delivery delayed (warning only)"


def test_out_of_office_reply() -> None:
    reading = read_message(sample("sisimai-rfc3834-01.eml"))
    assert (reading.reports, reading.note) == ((), "auto-reply")


def test_autoreply_header_on_a_message_that_quotes_a_failure() -> None:
    message = EmailMessage()
    message["From"] = "Jane <jane@example.com>"
    message["To"] = VERP
    message["Subject"] = "Out of Office: This week's digest"
    message["X-Autoreply"] = "yes"
    message.set_content("I am away. Your message to <jane@example.com> could not be read.\n")
    reading = read_message(message.as_bytes())
    assert (reading.reports, reading.note) == ((), "auto-reply")
    assert reading.tokens == (TOKEN,)


def test_plain_mail_is_not_a_bounce() -> None:
    message = EmailMessage()
    message["From"] = "Reader <reader@example.com>"
    message["To"] = VERP
    message["Subject"] = "Re: This week's digest"
    message.set_content("Thanks, great issue! The third link is broken though (404).\n")
    reading = read_message(message.as_bytes())
    assert (reading.reports, reading.note) == ((), "not a bounce or complaint")


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n  "])
def test_empty_input(raw: bytes) -> None:
    assert read_message(raw).note == "unreadable message: empty"


def test_binary_junk() -> None:
    junk = random.Random(10).randbytes(50_000)
    reading = read_message(junk)
    assert reading.reports == ()
    assert reading.note == "unreadable message: no mail headers"


def test_not_bytes_at_all() -> None:
    reading = read_message("Subject: a str, not bytes\n\nhello")  # type: ignore[arg-type]
    assert reading.reports == ()
    assert reading.note.startswith("unreadable message")


def test_multipart_report_with_no_blocks() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\nTo: bounces@news.example.org\n"
        b"Subject: report\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nnothing here\n"
        b"--B\nContent-Type: message/delivery-status\n\n\n"
        b"--B--\n"
    )
    reading = read_message(raw)
    assert reading.reports == ()
    assert reading.note == "not a bounce or complaint"


def test_invalid_charsets_are_read_anyway() -> None:
    raw = sample("sisimai-lhost-postfix-01.eml")
    raw = raw.replace(b"charset=us-ascii", b'charset="x-no-such-charset"')
    raw = raw.replace(b"Subject:", b"Subject: =?x-bogus?q?=FF=FE?=", 1)
    assert b"x-no-such-charset" in raw
    (report,) = read_message(raw).reports
    assert (report.kind, report.status) == (BounceKind.HARD, "5.1.1")


def test_eight_bit_junk_in_a_non_standard_bounce() -> None:
    raw = sample("sisimai-lhost-qmail-01.eml").replace(b"\n\n", b"\n\n\xff\xfe\x80 \xc3(\n\n", 1)
    (report,) = read_message(raw).reports
    assert report.recipient == "kijitora@example.ne.jp"


def test_five_megabytes_are_cut_to_the_first() -> None:
    raw = sample("sisimai-lhost-postfix-13.eml") + b"x" * (5 * 1024 * 1024)
    reading = read_message(raw)
    assert len(reading.reports) == 2
    assert len(raw) > 5 * MAX_BYTES


def test_deeply_nested_mime_does_not_raise() -> None:
    header = b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n'
    raw = b"From: a@example.com\nMIME-Version: 1.0\n" + b"".join(
        header % (n, n) for n in range(3000)
    )
    reading = read_message(raw)
    assert reading.reports == ()
    assert reading.note.startswith("unreadable message: RecursionError")
