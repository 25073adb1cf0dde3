"""The bounce mailbox (DIGEST_BOUNCE_MAILBOX) that beat polls: read each new message, apply it,
then delete it, so the same bounce is never read twice and nothing unread is ever lost.

The policy, chosen so that a message leaves the mailbox only after its outcome is committed:

- A message is deleted only after `process` returned for it (its transaction committed).
  IMAP flags it `\\Seen \\Deleted` at once and expunges the folder at the end of the poll;
  POP3 marks it with DELE, which the server carries out at QUIT.
- `process` raising (the database is down) leaves that message exactly as it was, unread, for
  the next poll; the poll goes on with the others.
- IMAP reads only unseen messages. One that held no bounce or complaint (an auto-reply, spam, a
  person writing to the bounce address) is kept, flagged `\\Seen`, for a person to read. POP3
  has no flags, so there everything processed is deleted (what it held is logged).
  `?delete=false` (IMAP) deletes nothing and only flags what was processed `\\Seen`.
- The folder is the service's: an expunge also removes what anyone else flagged `\\Deleted`
  there. Moving to a "Processed" folder was not chosen: it needs the folder and the MOVE
  extension on every server, and the issue asks for deleting or flagging.
- A connection, TLS or login failure raises `MailboxError` (one line, password hidden) before a
  message is touched. A connection lost midway deletes nothing more: POP3 rolls back its DELEs,
  and on IMAP only already processed messages carry the flag. A message whose deletion was lost
  comes again, and `process_message` knows a report it has already applied.
- Each poll reads at most `limit` messages; the rest wait for the next one (`left`).
"""

from __future__ import annotations

import imaplib
import logging
import poplib
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from app.bounces.outcomes import Applied
from app.bounces.process import MAX_MESSAGE_BYTES, process_message
from app.config import Settings
from app.errors import Unavailable
from app.mailservers import MailboxConfig, parse_mailbox_url

log = logging.getLogger(__name__)

SOURCE = "mailbox"  # how the reader's record names this channel (`process_message`'s source)


class MailboxError(Unavailable):
    """The bounce mailbox cannot be read now (unreachable, TLS, login, folder); nothing was lost."""


class Processor(Protocol):
    """Applies one raw message; raises only when it could not (then the message is kept)."""

    def __call__(self, raw: bytes, /, *, source: str, settings: Settings) -> list[Applied]: ...


@dataclass
class PollResult:
    """What one poll did, in messages: `processed` = applied (`changed`: a reader or delivery
    changed; `deleted`: removed from the mailbox); `failed` and `left` wait for the next poll."""

    seen: int = 0
    processed: int = 0
    changed: int = 0
    deleted: int = 0
    failed: int = 0
    left: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


Reader = Callable[[bytes, str, PollResult], list[Applied] | None]


def poll_mailbox(
    settings: Settings, *, process: Processor = process_message, limit: int = 500
) -> PollResult:
    """Read up to `limit` new messages from DIGEST_BOUNCE_MAILBOX and apply each (see above)."""
    if not settings.bounce_mailbox:
        raise MailboxError("DIGEST_BOUNCE_MAILBOX is not set: there is no bounce mailbox to poll")
    try:
        box = parse_mailbox_url(settings.bounce_mailbox)
    except ValueError as error:
        raise MailboxError(str(error)) from None

    def read(raw: bytes, label: str, result: PollResult) -> list[Applied] | None:
        return _apply(raw, label, result, process=process, settings=settings)

    poll = _poll_imap if box.protocol == "imap" else _poll_pop3
    try:
        result = poll(box, read, limit)
    except ssl.SSLCertVerificationError as error:
        raise MailboxError(
            f"bounce mailbox {box.shown}: TLS certificate refused ({error.verify_message}); "
            "?verify=false accepts a self-signed one"
        ) from None
    except (OSError, imaplib.IMAP4.error, poplib.error_proto) as error:
        raise MailboxError(f"bounce mailbox {box.shown}: {_text(error)}") from None
    log.info("bounce mailbox %s polled: %s", box.shown, result.as_dict())
    return result


def _apply(
    raw: bytes, label: str, result: PollResult, *, process: Processor, settings: Settings
) -> list[Applied] | None:
    """Hand one message to `process`; None if it raised (the caller then leaves it alone)."""
    result.seen += 1
    try:
        applied = process(raw, source=SOURCE, settings=settings)
    except Exception as error:  # noqa: BLE001 - whatever it was, the message must stay unread
        result.failed += 1
        log.warning(
            "bounce mailbox: %s kept for the next poll: %s: %s", label, type(error).__name__, error
        )
        return None
    result.processed += 1
    result.changed += any(outcome.changed for outcome in applied)
    for outcome in applied:
        log.info("bounce mailbox: %s: %s", label, outcome.action)
    return applied


def _poll_imap(box: MailboxConfig, read: Reader, limit: int) -> PollResult:
    """Unseen messages of the folder, by UID (stable while we flag and others deliver)."""
    context = _tls_context(box)
    if box.implicit_tls:
        client = imaplib.IMAP4_SSL(box.host, box.port, ssl_context=context, timeout=box.timeout)
    else:
        client = imaplib.IMAP4(box.host, box.port, timeout=box.timeout)
    with client:  # logs out on the way out, also after an error
        if box.starttls:
            client.starttls(ssl_context=context)
        _login(box, lambda: client.login(box.username, box.password))
        status, detail = client.select(_quoted(box.folder))
        if status != "OK":
            raise MailboxError(
                f"bounce mailbox {box.shown}: folder {box.folder!r} cannot be opened: "
                f"{_text(detail)}"
            )
        found = _ok(client.uid("SEARCH", "UNSEEN"), "SEARCH UNSEEN")
        uids = found[0].split() if found and found[0] else []
        result = PollResult(left=max(0, len(uids) - limit))
        for uid in uids[:limit]:
            raw = _fetch(client, uid)
            if raw is None:
                continue  # expunged by another client since the search
            applied = read(raw, f"IMAP message {uid.decode()}", result)
            if applied is None:
                result.left += 1
                continue
            delete = box.delete and any(outcome.report is not None for outcome in applied)
            flags = r"(\Seen \Deleted)" if delete else r"(\Seen)"
            _ok(client.uid("STORE", uid, "+FLAGS.SILENT", flags), f"flagging {uid.decode()}")
            result.deleted += delete
        if box.delete:
            _ok(client.expunge(), "EXPUNGE")
    return result


def _fetch(client: imaplib.IMAP4, uid: bytes) -> bytes | None:
    """The whole message, without setting \\Seen (PEEK): it is flagged only once processed."""
    data = _ok(client.uid("FETCH", uid, "(BODY.PEEK[])"), f"fetching message {uid.decode()}")
    for part in data:
        if isinstance(part, tuple) and b"BODY[]" in part[0]:
            return part[1]
    return None


def _poll_pop3(box: MailboxConfig, read: Reader, limit: int) -> PollResult:
    """Messages 1..n of the maildrop; DELE after each, committed by QUIT at the end only."""
    # poplib refuses lines over 2,048 bytes and the session is lost then: one bounce quoting
    # a long HTML line would stop every poll at that message. A line can be as long as a
    # message `process_message` still reads.
    poplib._MAXLINE = max(poplib._MAXLINE, MAX_MESSAGE_BYTES)
    context = _tls_context(box)
    if box.implicit_tls:
        client = poplib.POP3_SSL(box.host, box.port, timeout=box.timeout, context=context)
    else:
        client = poplib.POP3(box.host, box.port, timeout=box.timeout)
    try:
        if box.starttls:
            client.stls(context)
        _login(box, lambda: (client.user(box.username), client.pass_(box.password)))
        count, _size = client.stat()
        result = PollResult(left=max(0, count - limit))
        for number in range(1, min(count, limit) + 1):
            _status, lines, _octets = client.retr(number)
            applied = read(b"\r\n".join(lines) + b"\r\n", f"POP3 message {number}", result)
            if applied is None:
                result.left += 1
                continue
            client.dele(number)
            result.deleted += 1
        client.quit()
    except BaseException:
        client.close()  # without QUIT the server forgets every DELE of this session
        raise
    return result


def _ok(answer: tuple[str, list], doing: str) -> list:
    """The data of an IMAP answer; a NO or BAD (a read-only folder, say) ends the poll."""
    status, data = answer
    if status != "OK":
        raise imaplib.IMAP4.error(f"{doing} failed: {status} {_text(data)}")
    return data


def _login(box: MailboxConfig, login: Callable[[], object]) -> None:
    """Log in, turning the server's refusal into a reason that names the user, not the password."""
    try:
        login()
    except (imaplib.IMAP4.error, poplib.error_proto) as error:
        if isinstance(error, imaplib.IMAP4.abort):
            raise
        raise MailboxError(
            f"bounce mailbox {box.shown}: login as {box.username!r} refused: {_text(error)}"
        ) from None


def _tls_context(box: MailboxConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not box.verify:  # a self-signed certificate, asked for with ?verify=false
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string, so names with spaces work."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: object) -> str:
    """A server's answer or an error as one readable line (imaplib hands back bytes in lists)."""
    if isinstance(value, BaseException):
        value = value.args[0] if len(value.args) == 1 else str(value) or type(value).__name__
    if isinstance(value, list | tuple):
        value = b" ".join(part for part in value if isinstance(part, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split()) or "no reason given"
