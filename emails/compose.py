"""Encode a message once per issue, then fill each reader's values into its bytes (SPEC §8, §11).

The body parts are encoded here rather than by the `email` package, so that every place a
per-reader value goes is known exactly. Each part is quoted-printable or base64, whichever is
smaller for its content (`emails.encoding` says how a value is placed in each); the headers are
literal lines with the reader's own lines (To, Message-ID, List-Unsubscribe) as slots. In the
bodies, two per-reader URLs have slots: the unsubscribe link and the preference-centre link
("Manage your subscription"); the List-Unsubscribe header is always the unsubscribe URL.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cached_property

import dkim

from emails.encoding import Base64Tail, BodyPart, encode_body, qp_encode_value
from emails.headers import (
    HEADER_CONTROL,
    clean_header_text,
    from_header,
    list_id_header,
    text_header,
)

# "%%" never survives rendering of untrusted text (render.clean_text breaks it), so these
# markers in a rendered body can only come from our own templates.
UNSUBSCRIBE_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
MANAGE_PLACEHOLDER = "%%MANAGE_URL%%"

MAX_HEADER_LINE = 998

DKIM_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"list-id",
    b"mime-version",
    b"content-type",
]

_RESERVED = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "precedence",
    "feedback-id",
    "content-type",
    "content-transfer-encoding",
    "bcc",
    "cc",
}
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, controls, CR/LF or UTF-8
_HEADER_TEXT = re.compile(r"[\x20-\x7e]+")
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")
_KIND = re.compile(r"[a-z][a-z0-9-]*")
_DOMAIN = re.compile(r"[A-Za-z0-9.-]+")

# The slots a template leaves open; fill() supplies their bytes. The names are stored with the
# template (dumps), so they never change: "url_*" are the unsubscribe link's.
_TO, _MESSAGE_ID_SLOT, _LIST_UNSUBSCRIBE, _URL_TEXT, _URL_HTML = (
    "to",
    "message_id",
    "list_unsubscribe",
    "url_text",
    "url_html",
)
_MANAGE_TEXT, _MANAGE_HTML = "manage_text", "manage_html"
_SLOTS = frozenset(
    {_TO, _MESSAGE_ID_SLOT, _LIST_UNSUBSCRIBE, _URL_TEXT, _URL_HTML, _MANAGE_TEXT, _MANAGE_HTML}
)
_UNSUBSCRIBE_SLOTS, _MANAGE_SLOTS = (
    frozenset({_URL_TEXT, _URL_HTML}),
    frozenset({_MANAGE_TEXT, _MANAGE_HTML}),
)
# Each body's placeholders and the slots they become, the text part's and the HTML part's.
_TEXT_SLOTS = {UNSUBSCRIBE_PLACEHOLDER: _URL_TEXT, MANAGE_PLACEHOLDER: _MANAGE_TEXT}
_HTML_SLOTS = {UNSUBSCRIBE_PLACEHOLDER: _URL_HTML, MANAGE_PLACEHOLDER: _MANAGE_HTML}
_TEMPLATE_MAGIC = b"weekly-digest-template/1\n"


@dataclass(frozen=True)
class Rendered:
    """A finished email as `emails.render` makes it: subject line, HTML part, plain-text part."""

    subject: str
    html: str
    text: str


def _check(value: str, pattern: re.Pattern[str], field: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{field} must be printable ASCII without line breaks, got {value!r}")
    return value


def _check_url(url: str, field: str) -> str:
    """A reader's URL as it may go into a header or an href: http(s), visible ASCII, no < or >.

    Its length is capped at what one List-Unsubscribe header line can hold, for either URL.
    """
    # _PRINTABLE without a regex (two URLs a message): visible ASCII is printable but no space.
    if not isinstance(url, str) or not (url.isascii() and url.isprintable()) or " " in url:
        raise ValueError(f"{field} must be printable ASCII without line breaks, got {url!r}")
    if not url.lower().startswith(("https://", "http://")) or "<" in url or ">" in url:
        raise ValueError(f"{field} must be an http(s) URL, got {url!r}")
    if len("List-Unsubscribe: <>") + len(url) > MAX_HEADER_LINE:
        raise ValueError(f"{field} is too long for one header line")
    return url


@dataclass(frozen=True)
class _SlotForms:
    """Which slots a template fills QP-encoded (in its QP parts) and which raw (in base64
    tails): fill() makes only the forms a template has, as it runs once per message."""

    encoded: frozenset[str]
    raw: frozenset[str]

    @classmethod
    def of(cls, parts: tuple[BodyPart, ...]) -> _SlotForms:
        tails = (piece for part in parts if isinstance(part, Base64Tail) for piece in part.pieces)
        return cls(
            encoded=frozenset(part for part in parts if isinstance(part, str)),
            raw=frozenset(piece for piece in tails if isinstance(piece, str)),
        )

    def put(
        self,
        url: str,
        slots: tuple[str, str],
        values: dict[str, bytes],
        raw: dict[str, bytes],
    ) -> None:
        """Add a URL's values for its (text, HTML) slots: QP-encoded to `values`, raw to `raw`."""
        text_slot, html_slot = slots
        for slot, value in ((text_slot, url), (html_slot, html.escape(url))):
            if slot in self.encoded:
                values[slot] = qp_encode_value(value)
            if slot in self.raw:
                raw[slot] = value.encode("ascii")


@dataclass(frozen=True)
class MessageTemplate:
    """A message encoded once: literal bytes with open slots for each reader's values."""

    parts: tuple[BodyPart, ...]
    needs_unsubscribe: bool
    # False for every template stored before the preference-centre link existed.
    needs_manage: bool = False

    @cached_property
    def _forms(self) -> _SlotForms:
        return _SlotForms.of(self.parts)

    def fill(
        self,
        *,
        to: str,
        message_id: str,
        unsubscribe_url: str | None,
        manage_url: str | None = None,
    ) -> bytes:
        """The finished message for one reader: To, Message-ID and their two URLs filled in."""
        _check(to, _HEADER_TEXT, "to")
        if "@" not in to or len(to) > 900:
            raise ValueError(f"to must be an email address, got {to!r}")
        _check(message_id, _MESSAGE_ID, "message_id")
        # Base64 tails take the values as they are (`raw`); QP parts take them QP-encoded.
        values: dict[str, bytes] = {}
        raw: dict[str, bytes] = {}
        if unsubscribe_url is None:
            if self.needs_unsubscribe:
                raise ValueError("this message has an unsubscribe link: unsubscribe_url is needed")
            values[_LIST_UNSUBSCRIBE] = b""
        else:
            url = _check_url(unsubscribe_url, "unsubscribe_url")
            self._forms.put(url, (_URL_TEXT, _URL_HTML), values, raw)
            # Never folded: RFC 2369 forbids whitespace inside <...>, and a fold before "<" leaves
            # a leading space some parsers keep. One line up to 998 bytes is legal (RFC 5322).
            values[_LIST_UNSUBSCRIBE] = (
                f"List-Unsubscribe: <{url}>\r\n"
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            ).encode("ascii")
        if manage_url is not None:
            url = _check_url(manage_url, "manage_url")
            self._forms.put(url, (_MANAGE_TEXT, _MANAGE_HTML), values, raw)
        elif self.needs_manage:
            raise ValueError("this message has a preference-centre link: manage_url is needed")
        values[_TO] = f"To: {to}\r\n".encode("ascii")
        values[_MESSAGE_ID_SLOT] = f"Message-ID: {message_id}\r\n".encode("ascii")
        return b"".join(
            part
            if isinstance(part, bytes)
            else values[part]
            if isinstance(part, str)
            else part.encode(raw)
            for part in self.parts
        )

    def dumps(self) -> bytes:
        """Bytes to store (Issue.message_template): a JSON index line, then the literal bytes.

        The index lists a literal as its length, a slot by name, a base64 tail as
        {"base64": [...]} of those two; the literal bytes follow in the same order.
        """
        index: list[object] = []
        literals: list[bytes] = []
        for part in self.parts:
            if isinstance(part, Base64Tail):
                index.append({"base64": [_index_entry(piece, literals) for piece in part.pieces]})
            else:
                index.append(_index_entry(part, literals))
        head_fields: dict[str, object] = {"needs_unsubscribe": self.needs_unsubscribe}
        if self.needs_manage:  # without it, the index is the one older code wrote and reads
            head_fields["needs_manage"] = True
        head = json.dumps({**head_fields, "parts": index})
        return _TEMPLATE_MAGIC + head.encode("ascii") + b"\n" + b"".join(literals)

    @classmethod
    def loads(cls, data: bytes) -> MessageTemplate:
        """The template `dumps` stored; ValueError if the bytes are not one."""
        if not data.startswith(_TEMPLATE_MAGIC) or b"\n" not in data[len(_TEMPLATE_MAGIC) :]:
            raise ValueError("not a stored message template")
        head, _, literals = data[len(_TEMPLATE_MAGIC) :].partition(b"\n")
        try:
            index = json.loads(head)
            entries, needs = index["parts"], index["needs_unsubscribe"]
            needs_manage = index.get("needs_manage", False)  # absent in templates stored before it
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"stored message template has a bad index: {error}") from None
        reader = _LiteralReader(literals)
        parts: list[BodyPart] = []
        for entry in entries if isinstance(entries, list) else [None]:
            if isinstance(entry, dict) and list(entry) == ["base64"]:
                pieces = entry["base64"] if isinstance(entry["base64"], list) else [None]
                parts.append(Base64Tail(pieces=tuple(reader.part(piece) for piece in pieces)))
            else:
                parts.append(reader.part(entry))
        # fill() trusts the flags to say which URLs it needs: they must match the slots.
        forms = _SlotForms.of(tuple(parts))
        slots = forms.encoded | forms.raw
        flags_ok = needs == bool(slots & _UNSUBSCRIBE_SLOTS) and isinstance(needs, bool)
        flags_ok &= needs_manage is bool(slots & _MANAGE_SLOTS)
        if reader.offset != len(literals) or not flags_ok:
            raise ValueError("stored message template is truncated or corrupt")
        return cls(parts=tuple(parts), needs_unsubscribe=needs, needs_manage=needs_manage)


def _index_entry(part: bytes | str, literals: list[bytes]) -> int | str:
    """A part's index entry (slot name, or literal length with its bytes added to `literals`)."""
    if isinstance(part, str):
        return part
    literals.append(part)
    return len(part)


class _LiteralReader:
    """Hands out a stored template's literal bytes in order, checking each index entry."""

    def __init__(self, literals: bytes) -> None:
        self.literals, self.offset = literals, 0

    def part(self, entry: object) -> bytes | str:
        if isinstance(entry, str) and entry in _SLOTS:
            return entry
        if isinstance(entry, int) and not isinstance(entry, bool) and entry >= 0:
            self.offset += entry
            return self.literals[self.offset - entry : self.offset]
        raise ValueError(f"stored message template has a bad part {entry!r}")


def _fixed_headers(
    *,
    sender: str,
    subject: str,
    date: datetime | None,
    list_id: str | None,
    feedback_id: str | None,
    extra_headers: dict[str, str] | None,
    bulk: bool,
) -> tuple[bytes, bytes]:
    """The headers every reader shares, folded and RFC 2047-encoded: (before To, after it).

    Text from people (subject, sender and list names) loses its control characters here, CR
    and LF included, whatever checked it before: nothing in it can start a header of its own.
    """
    when = date or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    subject = clean_header_text(subject, "subject")
    if not subject:
        raise ValueError("subject must not be empty")
    headers = [
        text_header("Subject", subject),
        f"Date: {format_datetime(when)}\r\nMIME-Version: 1.0\r\n".encode("ascii"),
    ]
    if list_id:
        headers.append(list_id_header(list_id))
    if bulk:
        headers.append(b"Precedence: bulk\r\n")
    if feedback_id:
        headers.append(
            f"Feedback-ID: {_check(feedback_id, _PRINTABLE, 'feedback_id')}\r\n".encode()
        )
    for name, value in (extra_headers or {}).items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise ValueError(f"extra header {name!r} is not allowed")
        if not isinstance(value, str) or HEADER_CONTROL.search(value):
            raise ValueError(f"extra header {name!r} must be one line of text")
        headers.append(text_header(name, clean_header_text(value, name)))
    return from_header(sender), b"".join(headers)


def _template(
    *, rendered: Rendered, fixed: tuple[bytes, bytes], unsubscribe_header: bool
) -> MessageTemplate:
    # "=_" is never valid QP and "_" never base64, so the boundary cannot occur in a body.
    boundary = "=_wd_" + secrets.token_hex(12)
    text_encoding, text_parts = encode_body(rendered.text, placeholders=_TEXT_SLOTS)
    html_encoding, html_parts = encode_body(rendered.html, placeholders=_HTML_SLOTS)
    alternative = (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {text_encoding}\r\n\r\n"
    )
    html_head = (
        f"\r\n--{boundary}\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {html_encoding}\r\n\r\n"
    )
    raw: list[BodyPart] = [
        fixed[0],
        _TO,
        fixed[1],
        _MESSAGE_ID_SLOT,
        *([_LIST_UNSUBSCRIBE] if unsubscribe_header else []),
        alternative.encode("ascii"),
        *text_parts,
        html_head.encode("ascii"),
        *html_parts,
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    merged: list[BodyPart] = []
    for part in raw:  # join neighbouring literals so fill() concatenates as few pieces as possible
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    forms = _SlotForms.of(tuple(merged))
    slots = forms.encoded | forms.raw
    return MessageTemplate(
        parts=tuple(merged),
        needs_unsubscribe=bool(slots & _UNSUBSCRIBE_SLOTS),
        needs_manage=bool(slots & _MANAGE_SLOTS),
    )


def build_template(
    *,
    sender: str,
    subject: str,
    rendered: Rendered,
    list_id: str,
    feedback_id: str | None,
    date: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
    bulk: bool = True,
) -> MessageTemplate:
    """Encode a list message once; `fill` then makes each reader's copy in microseconds."""
    if not list_id:
        raise ValueError("list_id is required for list mail")
    fixed = _fixed_headers(
        sender=sender,
        subject=subject,
        date=date,
        list_id=list_id,
        feedback_id=feedback_id,
        extra_headers=extra_headers,
        bulk=bulk,
    )
    return _template(rendered=rendered, fixed=fixed, unsubscribe_header=True)


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    rendered: Rendered,
    message_id: str,
    list_unsubscribe_url: str | None,
    list_id: str | None = None,
    feedback_id: str | None = None,
    date: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
    bulk: bool = False,
) -> bytes:
    """A one-off message (confirmation, welcome); List-Unsubscribe only when a URL is given."""
    fixed = _fixed_headers(
        sender=sender,
        subject=subject,
        date=date,
        list_id=list_id,
        feedback_id=feedback_id,
        extra_headers=extra_headers,
        bulk=bulk,
    )
    template = _template(
        rendered=rendered, fixed=fixed, unsubscribe_header=list_unsubscribe_url is not None
    )
    return template.fill(to=to, message_id=message_id, unsubscribe_url=list_unsubscribe_url)


def make_message_id(
    *, kind: str, issue_id: int | None, subscriber_id: int, domain: str, nonce: str | None = None
) -> str:
    """`<kind.issue.subscriber@domain>`: the same (issue, reader) always gets the same id.

    Without an issue (confirmation, welcome) a nonce is added, random unless given, so a
    re-sent confirmation is not dropped by a mailbox as a duplicate of the first.
    """
    if not _KIND.fullmatch(kind) or not _DOMAIN.fullmatch(domain):
        raise ValueError(f"bad message-id kind or domain: {kind!r}, {domain!r}")
    if issue_id is not None:
        return f"<{kind}.{int(issue_id)}.{int(subscriber_id)}@{domain}>"
    tail = nonce if nonce is not None else secrets.token_hex(8)
    _check(tail, re.compile(r"[A-Za-z0-9-]+"), "nonce")
    return f"<{kind}.{int(subscriber_id)}.{tail}@{domain}>"


def sign_dkim(message: bytes, *, selector: str, domain: str, private_key: bytes) -> bytes:
    """The message with a DKIM-Signature prepended; h= covers both List-Unsubscribe headers."""
    signature = dkim.sign(
        message,
        selector.encode("ascii"),
        domain.encode("ascii"),
        private_key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=DKIM_HEADERS,
    )
    return signature + message
