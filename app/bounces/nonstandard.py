"""Bounces without a delivery-status part, and auto-replies: what `reports` does when no DSN fits.

flufl.bounce (Mailman's detectors for Exim, qmail, old Sendmail, Postfix, Yahoo, Exchange, GroupWise
and two dozen heuristics) finds the failed addresses; it reports warnings ("still trying") as
*temporary* failures and final failures as *permanent* ones. A warning is not a failure the relay
gave up on, so it gives no report here, the same as a DSN's `Action: delayed`. A final failure is
soft when its text names a 4.x.x status or says the message expired in the queue, hard otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from flufl.bounce import all_failures

from app.bounces.events import Reading, Report
from app.models import BounceKind

DIAGNOSTIC_LIMIT = 500
TEXT_LIMIT = 200_000  # enough for any bounce's own words; the quoted original can be long

_STATUS = re.compile(r"(?<![\w.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_CODE = re.compile(r"(?<![\w.#:-])([45])\d\d(?=[\s,;-]|$)", re.MULTILINE)
# A final failure after the relay retried for days: the address may be fine, so it counts as soft.
_EXPIRED = re.compile(
    r"retry timeout exceeded|retry time not reached for any host after a long failure period"
    r"|message expired|delivery time expired|too long in (the )?queue|expired after|"
    r"could not (be delivered|deliver) (with|in|for) (the last )?\d+ (days|hours|seconds)|"
    r"connection timed out|timed out while|has been delayed|was not delivered within|"
    r"have been failing for a long time|cannot send message for \d+ days",
    re.IGNORECASE,
)
_ENCLOSED_TYPES = ("message/rfc822", "message/global")
_ENCLOSED_HEADER_TYPES = (
    "text/rfc822-headers",
    "text/rfc822-header",
    "message/rfc822-headers",
    "message/global-headers",
)
_HEADER_LINE = re.compile(
    r"^(return-path|received|message-id|date|from|to|subject|mime-version|content-type"
    r"|x-[\w-]+|list-[\w-]+|reply-to|sender):[ \t]",
    re.IGNORECASE,
)
_VACATION_SUBJECT = re.compile(
    r"out of (the )?office|\bOOO\b|automatic reply|auto(matic)?[- ]?(reply|response|antwort)"
    r"|autoreply|vacation|\baway\b|abwesen|absence|r[ée]ponse automatique|risposta automatica"
    r"|respuesta autom[áa]tica|on leave|^auto:",
    re.IGNORECASE,
)
_FAILURE_SUBJECT = re.compile(
    r"undeliver|delivery|failure|failed|returned|rejected|bounce|not delivered|error|"
    r"unzustellbar|non remis|mailer-daemon",
    re.IGNORECASE,
)
_FAILURE_TEXT = re.compile(
    r"could not be delivered|undeliverable|delivery (has )?failed|permanent fatal error|"
    r"an error (has )?occurred|not be delivered|failure reasons|unable to deliver|"
    r"delivery errors|returned mail|was rejected|rejected by|no such user|user unknown|"
    r"invalid (user|recipient|address)|mailbox (is )?(full|unavailable)",
    re.IGNORECASE,
)
# Bounded, and anchored after a non-address character, so a megabyte of dots stays linear.
_ADDRESS = re.compile(
    r"(?<![\w.+=!#$%&'*/?^`{|}~-])[\w.+=!#$%&'*/?^`{|}~-]{1,64}@[\w-]{1,63}(\.[\w-]{1,63}){1,8}"
)
_WARNING_TEXT = re.compile(
    r"will be retried|will continue (to try|trying)|still trying|not yet been delivered|"
    r"warning message only|no action is required",
    re.IGNORECASE,
)
_NOT_A_BOUNCE = "not a bounce or complaint"
_SES_JSON = re.compile(r'^\s*\{\s*"notificationType"\s*:', re.MULTILINE)
_QUOTED_ID = re.compile(r"message-id:\s*(<[^>\s]+>)", re.IGNORECASE)
_DAEMON = re.compile(r"mailer-daemon|post_?master|mail delivery|mdaemon|mailer", re.IGNORECASE)


def read_nonstandard(message: Message) -> Reading | None:
    """Failed recipients by flufl.bounce's detectors, a note for a warning, else None."""
    try:
        warned, failed = all_failures(message)
    except Exception:  # noqa: BLE001 — a detector tripping on odd input has found nothing
        return None
    if _SES_JSON.search(diagnostic_text(message)):
        return Reading(note="Amazon SES notification in JSON: use the SES webhook instead")
    ids = " ".join(str(h.get("message-id", "")) for h in [message, *enclosed_headers(message)])
    ids += " ".join(_QUOTED_ID.findall(diagnostic_text(message, include_enclosed=True)))
    addresses = sorted(
        address
        for address in (a.decode("ascii", "replace") for a in failed if a)
        if f"<{address}>" not in ids  # a Message-ID some heuristic took for an address
    )
    if not addresses:
        return Reading(note="delivery delayed (warning only)") if warned else None
    text = notice_text(message)
    reports = tuple(_plain_report(a, text, len(addresses) == 1) for a in addresses)
    return Reading(reports=reports, note="non-standard bounce (flufl.bounce)")


def scan_text(message: Message) -> Reading:
    """The last resort: a failure notice from a mail daemon that no detector knows.

    Only a message sent by a daemon (MAILER-DAEMON, postmaster, a null return path) that says it is
    a failure counts, and it gives one report: the recipient is the returned message's To (or the
    first address the notice names) and the kind follows the first status or reply code in it.
    """
    if not _from_daemon(message):
        return Reading(note="auto-reply" if _auto_submitted(message) else _NOT_A_BOUNCE)
    text = notice_text(message)
    subject = str(message.get("subject", ""))
    if not (_FAILURE_SUBJECT.search(subject) or _FAILURE_TEXT.search(text)):
        return Reading(note=_NOT_A_BOUNCE)
    if _WARNING_TEXT.search(text):
        return Reading(note="delivery delayed (warning only)")
    recipient = _returned_to(message) or _first_named_address(message, text)
    report = _plain_report(recipient or "", text, True)
    if not recipient:
        report = Report(kind=report.kind, status=report.status, diagnostic=report.diagnostic)
    return Reading(reports=(report,), note="non-standard bounce (text scan)")


def _from_daemon(message: Message) -> bool:
    return_path = str(message.get("return-path", "")).strip()
    if return_path in ("<>", "") and message.get("return-path") is not None:
        return True
    return bool(_DAEMON.search(str(message.get("from", "")) + " " + return_path))


def _returned_to(message: Message) -> str | None:
    for headers in enclosed_headers(message):
        found = [a for _, a in getaddresses(headers.get_all("to", [])) if "@" in a]
        if len(found) == 1:
            return found[0]
    return None


def _first_named_address(message: Message, text: str) -> str | None:
    """The first address in the notice that is not the notice's own sender or addressee."""
    own = {
        a.lower() for _, a in getaddresses(message.get_all("from", []) + message.get_all("to", []))
    }
    for match in _ADDRESS.finditer(text):
        if match.group(0).lower() not in own and not _DAEMON.search(match.group(0)):
            return match.group(0)
    return None


def _plain_report(address: str, text: str, only_one: bool) -> Report:
    """One failed address with the bounce's words about it, and a status when one is written."""
    window = _words_about(address, text)
    status_match = _STATUS.search(window) or (_STATUS.search(text) if only_one else None)
    status = ".".join(status_match.groups()) if status_match else None
    if status:
        soft = status.startswith("4")
    else:
        reply = _REPLY_CODE.search(window) or (_REPLY_CODE.search(text) if only_one else None)
        expired = _EXPIRED.search(window) or (_EXPIRED.search(text) if only_one else None)
        soft = reply.group(1) == "4" if reply else bool(expired)
    return Report(
        kind=BounceKind.SOFT if soft else BounceKind.HARD,
        recipient=address,
        status=status,
        diagnostic=window[:DIAGNOSTIC_LIMIT] or None,
    )


def _words_about(address: str, text: str) -> str:
    """The paragraph naming the address and the one after it, as one line (or the first two)."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    if not address:
        return " ".join(" ".join(paragraphs[:4]).split())
    lowered = address.lower()
    for index, paragraph in enumerate(paragraphs):
        if lowered in paragraph.lower():
            return " ".join(" ".join(paragraphs[index : index + 2]).split())
    return ""


# --- auto-replies (RFC 3834) ------------------------------------------------------------------


def is_auto_reply(message: Message) -> bool:
    """An out-of-office or autoresponder reply, which says nothing about the address."""
    if any(message.get(h) for h in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return True
    if str(message.get("precedence", "")).strip().lower() == "auto_reply":
        return True
    subject = str(message.get("subject", ""))
    if _VACATION_SUBJECT.search(subject) and not _FAILURE_SUBJECT.search(subject):
        return True
    return _auto_submitted(message)


def _auto_submitted(message: Message) -> bool:
    """Auto-Submitted: auto-replied from a person's address (bounces carry it too, from daemons)."""
    value = str(message.get("auto-submitted", "")).strip().lower()
    if not value.startswith("auto-replied"):
        return False
    sender = str(message.get("from", ""))
    subject = str(message.get("subject", ""))
    return not _DAEMON.search(sender) and not _FAILURE_SUBJECT.search(subject)


# --- the text of a bounce and the message it returns -------------------------------------------


def diagnostic_text(message: Message, *, include_enclosed: bool = False) -> str:
    """The bounce's own text parts decoded (HTML tags dropped), without the returned message."""
    chunks: list[str] = []
    size = 0
    for part in _own_parts(message, include_enclosed):
        broken_multipart = part.get_content_maintype() == "multipart"  # boundary never found
        if not broken_multipart and (
            part.get_content_maintype() != "text"
            or part.get_content_type() in _ENCLOSED_HEADER_TYPES
        ):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        text = _decode(data[:TEXT_LIMIT], part.get_content_charset())
        if part.get_content_subtype() == "html":
            text = re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(style|script).*?</\1>", " ", text))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        chunks.append(text)
        size += len(text)
        if size > TEXT_LIMIT:
            break
    return "\n\n".join(chunks)


def _own_parts(message: Message, include_enclosed: bool) -> Iterator[Message]:
    """The message's leaf parts, not descending into a returned message unless asked."""
    if message.is_multipart():
        for part in message.get_payload():
            if not isinstance(part, Message):
                continue
            if part.get_content_type() in _ENCLOSED_TYPES and not include_enclosed:
                continue
            yield from _own_parts(part, include_enclosed)
    else:
        yield message


def enclosed_headers(message: Message) -> Iterator[Message]:
    """The headers of the message a report returns or quotes: MIME parts, else the quoted text."""
    found = False
    for part in message.walk():
        content_type = part.get_content_type()
        if part is message:
            continue
        if content_type in _ENCLOSED_TYPES:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found = True
                yield payload[0]
        elif content_type in _ENCLOSED_HEADER_TYPES:
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                found = True
                yield HeaderParser().parsestr(_decode(data[:TEXT_LIMIT], "utf-8").lstrip())
    if not found:
        quoted = _quoted_headers(diagnostic_text(message))
        if quoted is not None:
            yield quoted


def notice_text(message: Message) -> str:
    """The bounce's own words: its text without the returned message, even one quoted inline."""
    text = diagnostic_text(message)
    return text[: _quoted_start(text)]


def _quoted_headers(text: str) -> Message | None:
    """Headers quoted in a plain-text bounce (Exim, qmail): the first run of header-like lines."""
    start = _quoted_start(text)
    if start == len(text):
        return None
    return HeaderParser().parsestr(text[start:].strip() + "\n")


def _quoted_start(text: str) -> int:
    """Where the first run of at least three header lines in twelve starts (or the text's end)."""
    lines = text.split("\n")
    offset = 0
    for index, line in enumerate(lines):
        if _HEADER_LINE.match(line):
            window = lines[index : index + 12]
            if sum(bool(_HEADER_LINE.match(candidate)) for candidate in window) >= 3:
                return offset
        offset += len(line) + 1
    return len(text)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # an unknown or invalid charset name
        return data.decode("utf-8", "replace")
