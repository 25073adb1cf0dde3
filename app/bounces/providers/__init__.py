"""What every provider's webhook module shares: the request as it arrived, the checks a provider
may need (the clock, an HTTPS getter, a certificate cache, a replay guard), and the refusals.

Each provider module (`ses`, `postmark`, `mailgun`, `sendgrid`) has the same three functions:
`enabled(settings)`, `verify(incoming, checks)` (raises a `WebhookRefused` unless the request is
the provider's) and `parse(incoming, checks) -> list[Reading]`. `app.bounces.webhooks` runs them.
A refusal is raised before anything is read into a `Report`, so a refused request changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from app.config import Settings
from app.errors import DigestError, Invalid, NotFound, Unavailable
from app.models import BounceKind
from app.tokens import BOUNCE_TOKEN_IN_ADDRESS


@dataclass(frozen=True)
class Incoming:
    """A webhook request as it arrived: the exact body bytes (signatures cover them) and the
    headers, names lower-cased."""

    body: bytes
    headers: Mapping[str, str]


class Certificates(Protocol):
    """Signing keys by certificate URL (`sns.CertificateCache`)."""

    def key(self, url: str, checks: Checks) -> Any: ...


@dataclass(frozen=True)
class Checks:
    """What verifying may need beyond the request: all passed in, so tests use real stand-ins.

    `fetch(url)` GETs an https URL that a provider module has already judged safe; `first_sight(
    key)` is true the first time a one-time value (a Mailgun token) is shown, false after.
    """

    settings: Settings
    now: datetime
    fetch: Callable[[str], bytes]
    certificates: Certificates
    first_sight: Callable[[str], bool]


# --- refusals: the web edge gives each kind its status -------------------------------------------


class WebhookRefused(DigestError):
    """The request is not acted on; `str(error)` says why in a sentence for the provider's log."""


class UnknownProvider(WebhookRefused, NotFound):
    """No such provider (404)."""


class NotEnabled(WebhookRefused, NotFound):
    """The provider's setting is unset: answered as if the route did not exist (404)."""


class Unauthenticated(WebhookRefused):
    """The request carries no credentials or signature at all (401)."""


class Forbidden(WebhookRefused):
    """The credentials or signature are wrong, stale, replayed or from a foreign place (403)."""


class Unreadable(WebhookRefused, Invalid):
    """The body is not JSON (400)."""


class WrongShape(WebhookRefused, Invalid):
    """The body is JSON but not the provider's payload (422)."""


class Misconfigured(WebhookRefused, Unavailable):
    """Our own setting for the provider cannot be used (503): the admin must fix it."""


# --- small readers every provider uses -----------------------------------------------------------


def read_json(body: bytes | str) -> Any:
    """The body as JSON, or `Unreadable` saying where it breaks."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise Unreadable(f"the body is not valid JSON: {error}") from None


Model = TypeVar("Model", bound=BaseModel)


def shaped(model: type[Model], document: Any, what: str) -> Model:
    """`document` read into `model`, or `WrongShape` naming the first fields that do not fit."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors()[:3]
        )
        raise WrongShape(f"not {what}: {problems}") from None


def tokens_in(*texts: str | None) -> tuple[str, ...]:
    """The VERP tokens in `texts`, each once, in the order they appear (not yet verified)."""
    found: dict[str, None] = {}
    for text in texts:
        for token in BOUNCE_TOKEN_IN_ADDRESS.findall(text or ""):
            found.setdefault(token.lower(), None)
    return tuple(found)


_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def status_in(*texts: str | None) -> str | None:
    """The first enhanced status code ("5.1.1") in a provider's free text, if any."""
    for text in texts:
        match = _STATUS.search(text or "")
        if match:
            return match.group(1)
    return None


def failure_status(kind: BounceKind, *texts: str | None) -> str | None:
    """The status a failure report carries: the code in the provider's text when it agrees
    with the kind (5 for hard, 4 for soft), else 5.0.0 or 4.0.0; None for a complaint."""
    if kind is BounceKind.COMPLAINT:
        return None
    default = "5.0.0" if kind is BounceKind.HARD else "4.0.0"
    found = status_in(*texts)
    return found if found and found[0] == default[0] else default


def cut(text: str | None, limit: int = 500) -> str | None:
    """A remote server's words, short enough to store."""
    return text[:limit] if text else None
