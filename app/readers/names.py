"""The names readers give: checked where they come in, so none can carry a phishing line.

A name goes into the confirmation mail sent to whatever address was typed on the public form:
a name holding a link, an address, a phone number or markup would let anyone mail that line
from this site to anybody (issue 11, item 8a).
"""

from __future__ import annotations

import re
import unicodedata

from app.errors import Invalid


def one_line_name(raw: str | None) -> str | None:
    """A name on one line, bounded: for imports, whose list the editor vouches for."""
    if not raw:
        return None
    return " ".join(raw.split())[:200] or None


class InvalidName(Invalid):
    """The name cannot be used; `reason` is shown to the reader."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MAX_NAME_LENGTH = 100
# Beside letters and combining marks (any script), what names are written with.
_NAME_PUNCTUATION = frozenset(" .,'’-")
# A dot with letters right after it ("evil.example", "x.com"), unlike initials ("J.R.R.").
_ADDRESS_LIKE = re.compile(r"\.[^\W\d_]{2,}")


def clean_name(raw: str | None) -> str | None:
    """A display name safe to store and to greet with; `InvalidName` for one that is not.

    The name goes into the confirmation mail sent to whatever address was typed: a name with a
    link, an address, a phone number or markup would let anyone mail a phishing line from this
    site to anybody. So a name holds letters, marks and a little punctuation only, no digits,
    no "word.tld", and is at most MAX_NAME_LENGTH characters.
    """
    if not raw:
        return None
    name = " ".join(raw.split())
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"The name is too long (at most {MAX_NAME_LENGTH} characters).")
    if any(
        char not in _NAME_PUNCTUATION and unicodedata.category(char)[0] not in "LM" for char in name
    ) or _ADDRESS_LIKE.search(name):
        raise InvalidName(
            "The name may hold letters, spaces and . , ' - only: no links, addresses, "
            "numbers or markup."
        )
    return name or None
