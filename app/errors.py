"""The domain's errors: one hierarchy, so every edge answers them the same way.

Domain code raises these (or its own subclasses of them) with a message written for the person
who asked. The web app turns them into answers in one place (`app.web.errors`: JSON under
`/api`, a page for people); the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class DigestError(Exception):
    """A request the domain cannot carry out; `str(error)` says why."""

    def answer(self) -> dict[str, Any]:
        """The error as JSON for a program: `detail` says why; a subclass may add facts."""
        return {"detail": str(self)}


class NotFound(DigestError):
    """The thing asked for does not exist (HTTP 404)."""


class Conflict(DigestError):
    """The thing exists but its state forbids the request, e.g. editing a sent issue (HTTP 409)."""


class Invalid(DigestError, ValueError):
    """The input cannot be used as given (HTTP 422)."""


class Refused(DigestError):
    """A server we passed the request on to (the mail server) refused it (HTTP 502)."""


class Unavailable(DigestError):
    """A service the request needs is down or refused us; trying later may work (HTTP 503)."""
