"""Header text written so that it parses back exactly (RFC 5322 folding, RFC 2047 words).

Subject, From and List-Id carry text people wrote: accents, dashes, CJK, emoji. Python's own
folder drops or adds a space next to encoded-words in about 6 % of mixed-language subjects, so
these headers are written here: every space travels inside an encoded-word, and control
characters (CR and LF included) become spaces, so no text can start a header of its own.
"""

from __future__ import annotations

import base64
import re
from email.policy import SMTP
from email.utils import formataddr

MAX_HEADER_LINE = 998
FOLD_AT = 78  # RFC 5322's recommended line length; folds happen before it
CRLF = "\r\n"
# Controls (C0, DEL, C1) and Unicode line/paragraph separators: never inside a header's text.
HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, controls, CR/LF or UTF-8
_SPACES = re.compile(r" {2,}")
_EW_OPEN = "=?utf-8?b?"
_EW_BYTES = 45  # 60 base64 characters: each encoded-word is 72 columns, under RFC 2047's 75


def clean_header_text(value: str, field: str) -> str:
    """User text for a header as one line: controls become spaces, runs of spaces one space.

    Only ASCII spaces are collapsed: a no-break or ideographic space is text and is kept.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text, got {value!r}")
    return _SPACES.sub(" ", HEADER_CONTROL.sub(" ", value)).strip(" ")


def _encoded_words(text: str, first_room: int) -> list[str]:
    """`text` as RFC 2047 base64 encoded-words, split between characters, never inside one.

    Decoders join adjacent encoded-words and drop the folding whitespace between them, so
    every space of the text travels inside a word and the text comes back exactly.
    `first_room` is the number of columns the first word may take.
    """
    words: list[str] = []
    chunk = bytearray()
    limit = max(3, min(_EW_BYTES, (first_room - len(_EW_OPEN) - 2) // 4 * 3))
    for char in text:
        encoded = char.encode("utf-8")
        if chunk and len(chunk) + len(encoded) > limit:
            words.append(_EW_OPEN + base64.b64encode(chunk).decode("ascii") + "?=")
            chunk.clear()
            limit = _EW_BYTES
        chunk += encoded
    if chunk:
        words.append(_EW_OPEN + base64.b64encode(chunk).decode("ascii") + "?=")
    return words


def _fold_words(name: str, words: list[str], tail: str = "") -> bytes:
    """`Name: w1 w2 …tail` with CRLF+space before a word whenever a line would pass 78 columns.

    Unfolding removes only the CRLF, so the space a fold stands in front of is kept.
    """
    lines = [f"{name}:"]
    for index, word in enumerate(words):
        piece = word + (tail if index == len(words) - 1 else "")
        if len(lines[-1]) + 1 + len(piece) > FOLD_AT and len(lines[-1]) > len(name) + 1:
            lines.append("")
        lines[-1] += " " + piece
    if not words:
        lines[-1] += " " + tail.lstrip()
    if any(len(line) > MAX_HEADER_LINE for line in lines):
        raise ValueError(f"{name} has a word too long for one header line")
    return (CRLF.join(lines) + CRLF).encode("ascii")


def text_header(name: str, text: str) -> bytes:
    """An unstructured header (Subject, …) that parses back to exactly `text`.

    Leading plain-ASCII words stay readable; from the first word that needs it (non-ASCII, or
    ASCII that looks like an encoded-word) the rest goes as encoded-words. Python's own folder
    is not used: it drops or adds a space next to encoded-words in about 6 % of mixed-language
    subjects. The space before the first encoded-word is real text and survives decoding.
    """
    words = text.split(" ")
    plain = 0
    while plain < len(words) and words[plain].isascii() and "=?" not in words[plain]:
        plain += 1
    if plain == len(words):
        return _fold_words(name, words)
    head = words[:plain]
    used = len(name) + 2 + sum(len(word) + 1 for word in head)
    room = FOLD_AT - used if FOLD_AT - used >= 20 else FOLD_AT - 1
    return _fold_words(name, head + _encoded_words(" ".join(words[plain:]), room))


def _phrase_header(name: str, phrase: str, angle: str) -> bytes:
    """`Name: phrase <angle>` (From, List-Id), the phrase quoted or encoded as it needs."""
    if not phrase:
        return _fold_words(name, [], f"<{angle}>")
    if phrase.isascii() and "=?" not in phrase:
        quoted = formataddr((phrase, "x@x"))[: -len(" <x@x>")]  # quotes only when it must
        return _fold_words(name, quoted.split(" "), f" <{angle}>")
    # One encoded-word for the whole phrase: Python's address parser keeps the space between
    # two adjacent encoded-words in a phrase (RFC 2047 says drop it), so splitting the name
    # would change it. A name past 45 bytes makes that word longer than RFC 2047's 75
    # columns, which decoders accept; the line still stays far below 998.
    word = _EW_OPEN + base64.b64encode(phrase.encode("utf-8")).decode("ascii") + "?="
    return _fold_words(name, [word], f" <{angle}>")


def from_header(sender: str) -> bytes:
    """The From header of `sender` ("Name <addr>"); ValueError unless it is one valid address."""
    if not isinstance(sender, str) or HEADER_CONTROL.search(sender):
        raise ValueError(f"sender is not a valid From address: {sender!r}")
    parsed = SMTP.header_factory("From", sender)
    if parsed.defects or len(parsed.addresses) != 1:
        raise ValueError(f"sender is not a valid From address: {sender!r}")
    address = parsed.addresses[0]
    spec = address.addr_spec
    if not spec.isascii() or not _PRINTABLE.fullmatch(spec) or "@" not in spec:
        raise ValueError(f"sender is not a valid From address: {sender!r}")
    name = clean_header_text(address.display_name, "sender")
    return _phrase_header("From", name, spec) if name else f"From: {spec}\r\n".encode("ascii")


def list_id_header(list_id: str) -> bytes:
    """`List-Id: Site name <id.domain>` (RFC 2919), the name encoded when it needs to be."""
    text = clean_header_text(list_id, "list_id")
    phrase, _, angle = text.rpartition("<")
    angle = angle.removesuffix(">")
    if not text.endswith(">") or not _PRINTABLE.fullmatch(angle) or "<" in angle:
        raise ValueError(f"list_id must look like 'Name <id.example.org>', got {list_id!r}")
    return _phrase_header("List-Id", phrase.strip(), angle)
