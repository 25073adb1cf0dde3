"""A reader's links: every URL that points one reader back at their own subscription.

One place decides their shape, so the welcome mail, each digest copy and a test copy carry the
same unsubscribe link, and the List-Unsubscribe header says what the footer says. Post links in
a digest are not here: a click token names an issue and an item, never a reader
(`app.tracking.clicks`), so every copy of an issue shares them.

`base_url` is `Settings.public_base_url` (no trailing slash). The send engine reads it once per
batch and calls `reader_links` once per message: nothing here reads settings or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import Subscriber
from app.readers.subscriptions import confirm_token, manage_token, unsubscribe_token
from app.tokens import Signer

# The unsubscribe path of previews and test copies to addresses that are no reader: a page that
# says "link not valid" and changes nothing.
PREVIEW_TOKEN = "preview"


@dataclass(frozen=True, slots=True)
class ReaderLinks:
    """The links every list mail to one reader carries (footer and List-Unsubscribe header)."""

    unsubscribe: str
    manage: str  # the preference centre ("Manage your subscription")


def reader_links(
    base_url: str, signer: Signer, subscriber_id: int, *, now: datetime | None = None
) -> ReaderLinks:
    """The reader's own links. The unsubscribe token never expires, so old mails keep working;
    the preference-centre token is stamped `now` (the clock when None) and lasts
    `DIGEST_MANAGE_LINK_DAYS`."""
    return ReaderLinks(
        unsubscribe=f"{base_url}/unsubscribe/{unsubscribe_token(signer, subscriber_id)}",
        manage=f"{base_url}/manage/{manage_token(signer, subscriber_id, now=now)}",
    )


def preview_links(base_url: str) -> ReaderLinks:
    """The links of a preview, or of a test copy to an address that belongs to no reader."""
    return ReaderLinks(
        unsubscribe=f"{base_url}/unsubscribe/{PREVIEW_TOKEN}",
        manage=f"{base_url}/manage/{PREVIEW_TOKEN}",
    )


def confirm_url(base_url: str, signer: Signer, subscriber: Subscriber, *, now: datetime) -> str:
    """The double opt-in link of a pending reader's current subscription round."""
    return f"{base_url}/confirm/{confirm_token(signer, subscriber, now=now)}"
