"""Each body part's transfer encoding: quoted-printable or base64, whichever is smaller.

The message is encoded once per issue and each reader's own URLs (unsubscribe, preference centre)
are put into the encoded bytes later (`MessageTemplate.fill`), so the encoding must leave a known
place for each value; the body marks those places with placeholders, each naming its slot:

- Quoted-printable: each literal stretch of body is encoded on its own and ends with a soft line
  break, and the value is QP-encoded at fill time on lines of its own. Soft breaks vanish on
  decoding, so the reader sees literal + value + literal, and no encoded line can exceed 76
  characters whatever the value.
- Base64 turns every 3 bytes into 4 characters, so a value of unknown length cannot be dropped
  into the encoded text. The part is split where its first placeholder (of any slot) starts,
  rounded down to a whole base64 line (57 bytes): everything before is encoded once; the rest
  (for a digest, the footer: a few hundred bytes) is kept raw as a `Base64Tail` and encoded with
  the reader's values at fill time. The wire bytes are then exactly those of encoding the whole
  filled part.

Markup and English prose are nearly all ASCII, which QP keeps as is (base64 costs a third more);
accented and non-Latin text costs QP three characters a byte ("é" is "=C3=A9"), base64 4/3. Which
one wins depends on the mix, so both are measured on the part's own bytes and the smaller kept.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

QP, BASE64 = "quoted-printable", "base64"
QP_PIECE = 75  # characters per encoded line before the "=" of a soft break: 76 in all
BASE64_LINE, BASE64_CHARS = 57, 76  # a base64 line: 57 bytes as 76 characters, RFC 2045's most
CRLF = "\r\n"
SOFT_BREAK = "=\r\n"

# One QP token per byte: visible ASCII except "=" stays; space and tab stay unless they end a line.
_QP_TOKEN = [
    chr(b) if (33 <= b <= 126 and b != 61) or b in (9, 32) else f"={b:02X}" for b in range(256)
]


def _wrap_tokens(tokens: list[str]) -> list[str]:
    """Group QP tokens into pieces of at most QP_PIECE characters, never splitting a token."""
    pieces: list[str] = []
    current: list[str] = []
    width = 0
    for token in tokens:
        if width + len(token) > QP_PIECE:
            pieces.append("".join(current))
            current, width = [], 0
        current.append(token)
        width += len(token)
    pieces.append("".join(current))
    return pieces


def qp_encode_segment(text: str, *, open_end: bool) -> str:
    """QP-encode literal body text; with open_end it ends in a soft break, ready for a value."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    encoded = []
    for index, line in enumerate(lines):
        tokens = [_QP_TOKEN[byte] for byte in line.encode("utf-8")]
        ends_hard = not (open_end and index == len(lines) - 1)
        # Whitespace at the end of an encoded line may be stripped in transit: encode it.
        if ends_hard and tokens and tokens[-1] in (" ", "\t"):
            tokens[-1] = f"={ord(tokens[-1]):02X}"
        encoded.append(SOFT_BREAK.join(_wrap_tokens(tokens)))
    body = CRLF.join(encoded)
    return body + SOFT_BREAK if open_end else body


def qp_encode_value(value: str) -> bytes:
    """QP-encode a visible-ASCII value on lines of its own, each ending in a soft break."""
    if "=" not in value:  # most URLs (tokens are base64url): plain pieces, once per message
        pieces = (value[start : start + QP_PIECE] for start in range(0, len(value), QP_PIECE))
        return "".join(piece + SOFT_BREAK for piece in pieces).encode("ascii")
    encoded = value.replace("=", "=3D")
    pieces = []
    start = 0
    while start < len(encoded):
        end = start + QP_PIECE
        if end < len(encoded):
            # Do not cut an "=3D" escape in two: end the piece before it instead.
            escape = encoded.rfind("=", end - 2, end)
            if escape != -1:
                end = escape
        pieces.append(encoded[start:end])
        start = end
    return "".join(piece + SOFT_BREAK for piece in pieces).encode("ascii")


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 §6.8)."""
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [
        encoded[start : start + BASE64_CHARS] for start in range(0, len(encoded), BASE64_CHARS)
    ]
    return b"".join(line + b"\r\n" for line in lines)


@dataclass(frozen=True)
class Base64Tail:
    """The end of a base64 part from its first slot on: raw bytes and slots, encoded per reader.

    It starts on a whole base64 line, so its encoding simply follows the once-encoded lines.
    """

    pieces: tuple[bytes | str, ...]

    def encode(self, values: dict[str, bytes]) -> bytes:
        """The tail's wire bytes with each slot's raw (unencoded) value in place."""
        return base64_lines(
            b"".join(piece if isinstance(piece, bytes) else values[piece] for piece in self.pieces)
        )


BodyPart = bytes | str | Base64Tail


def qp_size(body: str) -> int:
    """Bytes of `body` as quoted-printable (line ends as CRLF, soft breaks included)."""
    return len(qp_encode_segment(body, open_end=False))


def base64_size(body: str) -> int:
    """Bytes of `body` as base64 lines with CRLF, line ends as CRLF first (as mail carries them)."""
    size = len(_crlf_bytes(body))
    return -(-size // BASE64_LINE) * (BASE64_CHARS + 2)  # and a CRLF per started line


def _splitter(placeholders: Mapping[str, str]) -> re.Pattern[bytes]:
    """One pattern that finds any placeholder, with a group so `split` keeps what it found."""
    if not placeholders or not all(name and name.isascii() for name in placeholders):
        raise ValueError("placeholders must be non-empty ASCII")
    # Longest first: of two placeholders that start alike, the longer one is the one meant.
    names = sorted(placeholders, key=len, reverse=True)
    return re.compile(b"(" + b"|".join(re.escape(name.encode("ascii")) for name in names) + b")")


def _split(data: bytes, placeholders: Mapping[str, str]) -> list[bytes | str]:
    """`data` cut at each placeholder: literal bytes and slot names, alternating, literal first."""
    pieces = _splitter(placeholders).split(data)
    return [
        placeholders[piece.decode("ascii")] if odd % 2 else piece
        for odd, piece in enumerate(pieces)
    ]


def _crlf_bytes(body: str) -> bytes:
    """The body as mail carries it: UTF-8, every line end CRLF."""
    return body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")


def _qp_parts(body: str, placeholders: Mapping[str, str]) -> list[BodyPart]:
    # Placeholders are ASCII, so cutting the UTF-8 bytes at them never splits a character.
    pieces = _split(body.encode("utf-8"), placeholders)
    parts: list[BodyPart] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            parts.append(piece)
        else:
            last = index == len(pieces) - 1
            text = piece.decode("utf-8")
            parts.append(qp_encode_segment(text, open_end=not last).encode("ascii"))
    return parts


def _base64_parts(body: str, placeholders: Mapping[str, str]) -> list[BodyPart]:
    data = _crlf_bytes(body)
    found = _splitter(placeholders).search(data)
    if found is None:
        return [base64_lines(data)]
    start = found.start() - found.start() % BASE64_LINE
    tail = _split(data[start:], placeholders)
    return [base64_lines(data[:start]), Base64Tail(pieces=tuple(tail))]


def encode_body(body: str, *, placeholders: Mapping[str, str]) -> tuple[str, list[BodyPart]]:
    """(Content-Transfer-Encoding, parts): literal wire bytes with a slot for each placeholder.

    `placeholders` maps each placeholder to the name of its slot. In QP parts a slot takes the
    QP-encoded value; in a `Base64Tail`, which starts before the first placeholder of any slot,
    the raw value. The QP form is made first and measured (the slots' soft breaks included);
    QP wins a tie.
    """
    qp_parts = _qp_parts(body, placeholders)
    qp_bytes = sum(len(part) for part in qp_parts if isinstance(part, bytes))
    if base64_size(body) < qp_bytes:
        return BASE64, _base64_parts(body, placeholders)
    return QP, qp_parts
