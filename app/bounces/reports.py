"""Read one raw incoming message (a DSN, an ARF complaint report, or junk) into late outcomes.

Standard reports are read field by field: an RFC 3464 delivery-status part gives one report per
recipient whose Action is `failed` (5.x.x hard, 4.x.x soft), an RFC 5965 feedback-report part one
complaint per reported recipient. Everything else — the many bounce formats that predate DSNs or
ignore them (Exim, qmail, old Sendmail, Yahoo, Exchange…) — goes to flufl.bounce, Mailman's
detectors, in `nonstandard`. Warnings, successes, auto-replies and junk give no report, only a note.

The input comes from strangers through an MTA pipe or a mailbox, so `read_message` never raises: a
message it cannot read becomes a `Reading` whose note says why, and only the first megabyte is read.
"""

from __future__ import annotations

import contextlib
import email
import email.header
import email.utils
import re
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser

from app.bounces.events import Reading, Report
from app.bounces.nonstandard import (
    diagnostic_text,
    enclosed_headers,
    is_auto_reply,
    read_nonstandard,
    scan_text,
)
from app.models import BounceKind
from app.tokens import BOUNCE_TOKEN_IN_ADDRESS

MAX_BYTES = 1_000_000  # a bounce quoting a 20 MB attachment is still read from its first 1 MB
# flufl.bounce's heuristics try ~50 patterns on every line; their notice is in the first kilobytes.
DETECTOR_BYTES = 64_000
DIAGNOSTIC_LIMIT = 500

# Where a DSN addressed to our VERP return path shows that address, most telling first.
_ENVELOPE_HEADERS = ("to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ARF_TYPES = ("message/feedback-report",)
# RFC 5965 types, and the "opt-out" family older loops send: a reader asking out is a complaint.
_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other", "opt-out", "opt-out-list"}
_NOT_COMPLAINT_NOTES = {
    "not-spam": "feedback report: not-spam (no complaint)",
    "auth-failure": "feedback report: authentication failure (not about a reader)",
}
_ACTION_NOTES = {
    "delayed": "delivery delayed (warning only)",
    "delivered": "delivery report: delivered (no failure)",
    "relayed": "delivery report: relayed (no failure)",
    "expanded": "delivery report: expanded (no failure)",
}


def read_message(raw: bytes) -> Reading:
    """The reports one raw message holds, or a Reading whose note says why none; never raises."""
    try:
        return _read(raw)
    except Exception as error:  # noqa: BLE001 — a stranger's bytes must never stop the pipe
        return Reading(note=f"unreadable message: {type(error).__name__}: {error}"[:300])


def _read(raw: bytes) -> Reading:
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        return Reading(note="unreadable message: empty")
    raw = bytes(raw[:MAX_BYTES])
    message = email.message_from_bytes(raw)
    if not message.keys():
        return Reading(note="unreadable message: no mail headers")
    tokens = find_tokens(message, raw)
    reference = _message_id(message)
    reading = (
        _read_arf(message)
        or _read_dsn(_dsn_part_blocks(message), "delivery status notification")
        or (Reading(note="auto-reply") if is_auto_reply(message) else None)
        or read_nonstandard(
            message
            if len(raw) <= DETECTOR_BYTES
            else email.message_from_bytes(raw[:DETECTOR_BYTES])
        )
        or _read_dsn(_dsn_text_blocks(message), "delivery status fields in text")
        or scan_text(message)
    )
    reports = tuple(
        Report(
            kind=report.kind,
            recipient=report.recipient,
            status=report.status,
            diagnostic=report.diagnostic,
            tokens=tokens,
            message_id=report.message_id or _returned_message_id(message),
            reference=reference,
        )
        for report in reading.reports
    )
    return Reading(reports=reports, note=reading.note, tokens=tokens)


# --- RFC 3464 delivery status notifications ---------------------------------------------------


def _dsn_part_blocks(message: Message) -> list[Message]:
    return [block for part in _parts_of_type(message, _DSN_TYPES) for block in _field_blocks(part)]


def _dsn_text_blocks(message: Message) -> list[Message]:
    """DSN fields written into a text part (Amazon WorkMail) or left in a body whose MIME broke."""
    text = diagnostic_text(message)
    if not re.search(r"^final-recipient:", text, re.IGNORECASE | re.MULTILINE):
        return []
    parser = HeaderParser()
    return [parser.parsestr(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text)]


def _read_dsn(blocks: list[Message], source: str) -> Reading | None:
    """One report per failed recipient block; None when there is no readable block at all."""
    reports: list[Report] = []
    seen_actions: list[str] = []
    for block in blocks:
        if not any(block.get(f) for f in ("final-recipient", "original-recipient", "action")):
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        status = _status_of(block.get("status", "")) or _status_of(block.get("diagnostic-code", ""))
        action = _first_word(block.get("action", "")) or (
            "failed" if status and status[0] in "45" else ""
        )
        if action.startswith(("fail", "error", "expired")):  # OpenSMTPD "error", SendGrid "expired"
            reports.append(_dsn_report(block, status))
        elif action:
            seen_actions.append(action)
    if reports:
        unique: dict[tuple[str | None, str | None], Report] = {}
        for report in reports:  # some MTAs repeat a recipient's block
            unique.setdefault((report.recipient, report.status), report)
        return Reading(reports=tuple(unique.values()), note=source)
    for action in ("delayed", "delivered", "relayed", "expanded"):
        if action in seen_actions:
            return Reading(note=_ACTION_NOTES[action])
    if seen_actions:
        return Reading(note=f"delivery report: unknown action {seen_actions[0][:40]!r}")
    return None


def _dsn_report(block: Message, status: str | None) -> Report:
    """A failed recipient block: hard for 5.x.x, soft for 4.x.x; no usable code counts as hard."""
    kind = BounceKind.SOFT if status and status.startswith("4") else BounceKind.HARD
    candidates = [
        _address_field(block.get(name, ""))
        for name in ("final-recipient", "original-recipient", "x-actual-recipient")
    ]
    # Final-Recipient first, unless it is no Internet address (an X.400 gateway's) and another is
    recipient = next((c for c in candidates if c and "@" in c), None) or next(
        (c for c in candidates if c), None
    )
    diagnostic = _clean(block.get("diagnostic-code", ""))
    diagnostic = re.sub(r"^(smtp|x-[\w-]+)\s*;\s*", "", diagnostic, flags=re.IGNORECASE)
    return Report(
        kind=kind,
        recipient=recipient,
        status=status,
        diagnostic=diagnostic[:DIAGNOSTIC_LIMIT] or None,
    )


# --- RFC 5965 abuse feedback reports ----------------------------------------------------------


def _read_arf(message: Message) -> Reading | None:
    """One complaint per reported recipient (one with none when the report is redacted)."""
    reports: list[Report] = []
    notes: list[str] = []
    for part in _parts_of_type(message, _ARF_TYPES):
        for block in _field_blocks(part):
            feedback_type = _first_word(block.get("feedback-type", ""))
            if not feedback_type:
                continue
            if feedback_type not in _COMPLAINT_TYPES:
                notes.append(
                    _NOT_COMPLAINT_NOTES.get(
                        feedback_type, f"feedback report of type {feedback_type[:40]!r}"
                    )
                )
                continue
            recipients = [_address_field(v) for v in block.get_all("original-rcpt-to", [])]
            recipients = [r for r in recipients if r] or [_enclosed_recipient(message)]
            reports.extend(
                Report(kind=BounceKind.COMPLAINT, recipient=r, status=None) for r in recipients
            )
    if reports:
        return Reading(reports=tuple(reports), note="abuse report (ARF)")
    if notes:
        return Reading(note=notes[0])
    return None


def _enclosed_recipient(message: Message) -> str | None:
    """The To of the reported message, when it names exactly one unredacted address."""
    for headers in enclosed_headers(message):
        addresses = email.utils.getaddresses(headers.get_all("to", []))
        found = [a for _, a in addresses if "@" in a]
        if len(found) == 1 and not re.search(r"redacted|\*\*\*|x{4,}", found[0], re.IGNORECASE):
            return found[0]
    return None


# --- the parts of a report ---------------------------------------------------------------------


def _parts_of_type(message: Message, types: tuple[str, ...]) -> Iterator[Message]:
    for part in message.walk():
        if part.get_content_type() in types:
            yield part


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status or feedback-report part, however it was encoded.

    The email package parses a plain part into blocks itself; a part sent base64 or quoted-
    printable (some Exchange and Amazon DSNs) arrives as text and is split here.
    """
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        blocks = list(payload)
        if part.get("content-transfer-encoding", "").lower() not in ("base64", "quoted-printable"):
            return blocks
    data = part.get_payload(decode=True)
    if not data:
        return []
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    parser = HeaderParser()
    return [parser.parsestr(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text)]


def _returned_message_id(message: Message) -> str | None:
    """The Message-ID of the mail that bounced, from the returned message or its quoted headers."""
    for headers in enclosed_headers(message):
        found = _message_id(headers)
        if found:
            return found
    return None


def _message_id(headers: Message) -> str | None:
    value = _clean(headers.get("message-id", ""))
    return value[:250] or None


# --- tokens ------------------------------------------------------------------------------------


def find_tokens(message: Message, raw: bytes) -> tuple[str, ...]:
    """Every VERP token in the message: envelope headers, then the returned message, then anywhere.

    A DSN is addressed to our return path, so its To/Delivered-To name the token; the returned or
    reported message carries it in Return-Path; some relays only quote it in the text.
    """
    found: dict[str, None] = {}

    def collect(text: str) -> None:
        for match in BOUNCE_TOKEN_IN_ADDRESS.finditer(text):
            found.setdefault(match.group(1).lower(), None)

    for name in _ENVELOPE_HEADERS:
        for value in message.get_all(name, []):
            collect(str(value))
    for headers in enclosed_headers(message):
        for value in headers.values():
            collect(str(value))
    collect(raw.decode("latin-1"))
    collect(diagnostic_text(message, include_enclosed=True))  # base64 text parts
    return tuple(found)


# --- field values ------------------------------------------------------------------------------


def _status_of(value: str) -> str | None:
    match = _STATUS.search(str(value))
    return ".".join(match.groups()) if match else None


def _first_word(value: str) -> str:
    words = re.findall(r"[\w-]+", str(value).lower())
    return words[0] if words else ""


def _address_field(value: str) -> str | None:
    """`rfc822; <Jane@Example.org>` → `Jane@Example.org` (the type and brackets dropped)."""
    text = _clean(value)
    if ";" in text:
        text = text.split(";", 1)[1]
    words = text.split()
    text = next((w for w in words if "@" in w), words[0] if words else "")  # drop comments
    return text.strip("<>")[:320] or None


def _clean(value: object) -> str:
    """A header value as one line of text, whatever charset or encoded words it came in."""
    text = str(value) if value is not None else ""
    if "=?" in text:
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            text = str(email.header.make_header(email.header.decode_header(text)))
    return " ".join(text.split())
