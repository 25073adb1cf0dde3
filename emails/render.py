"""Render the confirmation, welcome and digest emails: sandboxed Jinja → MJML → HTML, plus text."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import css_inline
import mjml
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from emails.compose import MANAGE_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, Rendered

TEMPLATE_DIR = Path(__file__).parent
SUMMARY_CHARS = 220
# A headline past two lines is rarely read to its end, and posts may carry titles of up to 500
# characters: cut in the email, ten of them would push a digest past Gmail's 102 KB clipping.
TITLE_CHARS = 200
PREVIEW_CHARS = 110
TEXT_WIDTH = 72
# "Also in:" under a card names this many other outlets, then says how many more; each name is
# cut to SOURCE_CHARS (the card's own source too, its author to AUTHOR_CHARS) so a hostile or
# odd feed title cannot fill the card.
ALSO_IN_NAMES, SOURCE_CHARS, AUTHOR_CHARS = 4, 40, 60
# A card's section tag names the sections that fit in SECTION_CHARS columns, then says "+N": a
# quiet line, never a second headline. Ten of them at the worst (a post in all twelve sections,
# labels of 40 characters in any script) must not push a digest past Gmail's clip, nor may the
# reader's selection line under the intro, cut to SELECTION_CHARS.
SECTION_CHARS, SELECTION_CHARS = 28, 140
# The per-reader links a template compiled once for every reader leaves as placeholders.
_PLACEHOLDERS = frozenset({UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER})

# C0/C1 controls and the bidi overrides that can disguise text; whitespace is collapsed separately.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")
# Characters kept as-is in URLs; everything else (quotes, <, >, spaces, non-ASCII) is %-encoded.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


@dataclass(frozen=True)
class DigestCard:
    """One post in the digest; every text field is untrusted input."""

    rank: int
    title: str
    url: str
    source: str
    author: str | None
    read_minutes: int | None
    summary: str
    image_url: str | None
    also_in: tuple[str, ...] = ()  # the story's other outlets, best first
    sections: tuple[str, ...] = ()  # labels of the reader's sections the post is in


@dataclass(frozen=True)
class DigestContent:
    """Everything a digest issue shows, shared by every reader."""

    site_name: str
    tagline: str
    week_label: str
    subject: str
    intro: str
    cards: list[DigestCard]
    postal_address: str
    archive_url: str
    signup_url: str
    web_url: str | None
    # Per segment: "Picked for your sections: Wind and Policy." under the intro.
    selection_note: str | None = None


def clean_text(value: object) -> str:
    """Untrusted text as one safe line: no control chars, single spaces, placeholders broken."""
    text = _CONTROL.sub("", str(value or ""))
    text = _WHITESPACE.sub(" ", text).strip()
    # A "%%" could spell a compose placeholder; a word joiner keeps it visible but inert.
    return text.replace("%%", "%\u2060%")


def safe_url(value: object) -> str | None:
    """An http(s) URL made attribute-safe, or None when the value is not one."""
    url = _CONTROL.sub("", str(value or "")).strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if not parts.netloc.isascii():  # an internationalised host: punycode, not %-encoding
        try:
            url = urlunsplit(parts._replace(netloc=parts.netloc.encode("idna").decode("ascii")))
        except UnicodeError:
            return None
    return quote(url, safe=_URL_SAFE).replace("%%", "%25%25")


def _columns(text: str) -> int:
    """Columns `text` takes on screen: a wide character (CJK, emoji) takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _fitting(text: str, columns: int) -> int:
    """How many leading characters of `text` fit in `columns`; a wide character takes two.

    Counting columns, not characters, cuts Chinese or Japanese text (and emoji) after the same
    number of lines as Latin text, and keeps a cut field under twice its limit in UTF-8 bytes.
    """
    width = 0
    for index, char in enumerate(text):
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if width > columns:
            return index
    return len(text)


def clip(value: object, limit: int = SUMMARY_CHARS) -> str:
    """Clean text cut to about `limit` columns, on a word boundary, ending with an ellipsis."""
    text = clean_text(value)
    fits = _fitting(text, limit)
    if fits == len(text):
        return text
    head = text[: fits + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:fits]
    return cut.rstrip(" ,;:.-–—") + "…"


def also_in_line(names: tuple[str, ...] | list[str], source: str) -> str | None:
    """ "Also in: DW, Reuters" (at most 4 names, then "and N more"); None when no other outlet."""
    seen = {clean_text(source).casefold()}
    shown: list[str] = []
    for name in names:
        name = clip(name, SOURCE_CHARS)
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            shown.append(name)
    if not shown:
        return None
    more = len(shown) - ALSO_IN_NAMES
    listed = ", ".join(shown[:ALSO_IN_NAMES])
    return f"Also in: {listed}" + (f" and {more} more" if more > 0 else "")


def section_tag(labels: tuple[str, ...] | list[str]) -> str | None:
    """ "Wind · Policy +1": the card's sections, cleaned, without repeats, as many as fit in
    SECTION_CHARS columns (the first one cut to fit), then how many more; None when none."""
    seen: set[str] = set()
    shown: list[str] = []
    width = more = 0
    for label in labels:
        label = clip(label, SECTION_CHARS)
        if not label or label.casefold() in seen:
            continue
        seen.add(label.casefold())
        wide = _columns(label) + (3 if shown else 0)  # " · " before all but the first
        if shown and width + wide > SECTION_CHARS:
            more += 1
        else:
            shown.append(label)
            width += wide
    return (" · ".join(shown) + (f" +{more}" if more else "")) or None


def _wrap(value: str, width: int = TEXT_WIDTH) -> str:
    """Wrap prose for the plain-text part without breaking words or URLs."""
    return textwrap.fill(value, width, break_long_words=False, break_on_hyphens=False)


def _own_url(value: str, field: str) -> str:
    """Our own links (confirm, unsubscribe, archive) must be valid: fail loudly, never drop them.

    Only these may be a per-reader placeholder: a post's link or image URL that spelled one
    would otherwise be filled with each reader's own unsubscribe or preference-centre URL.
    """
    if value in _PLACEHOLDERS:
        return value
    url = safe_url(value)
    if url is None:
        raise ValueError(f"{field} must be an http(s) URL, got {value!r}")
    return url


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        # MJML and HTML sources escape every value; the .txt twins are plain text.
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(clean=clean_text, url=safe_url, clip=clip, wrap=_wrap)
    return env


# mjml-python hides the preview text as white 1px text: SpamAssassin's HTML_FONT_LOW_CONTRAST
# sees white on a light page. Hidden without any colour instead (display, height, opacity).
_MJML_PREVIEW = re.compile(r'<div style="display:none;font-size:1px;color:#ffffff;[^"]*">')
PREVIEW_DIV = (
    '<div style="display:none;max-height:0;max-width:0;overflow:hidden;opacity:0;'
    'mso-hide:all;font-size:1px;line-height:1px;">'
)
_ALT = re.compile(r' alt="([^"]*)"')
# Mail clients with a dark mode may then adapt the colours instead of inverting them blindly.
COLOR_SCHEME_META = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
)


# MJML's reset rules (table and cell borders, Outlook's table spacing, img and p defaults) stay in
# <head> for the clients that use them; inlined, they were copied onto every table and cell,
# about a sixth of a digest's HTML, and Gmail clips a message past 102 KB.
_MJML_RESET = '<style type="text/css">\n#outlook a'
_NOT_INLINED = '<style type="text/css" data-css-inline="ignore">\n#outlook a'


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    # Keep the <style> blocks: MJML's responsive @media rules live there and cannot be inlined.
    return css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def compile_mjml(template: str, **context: object) -> str:
    """Fill an MJML template, compile it to HTML and inline its CSS (once per issue)."""
    source = _env().get_template(template).render(**context)
    html = mjml.mjml2html(source, fonts={})
    html = (
        _MJML_PREVIEW.sub(PREVIEW_DIV, html, count=1)
        .replace("<head>", "<head>" + COLOR_SCHEME_META, 1)
        .replace(_MJML_RESET, _NOT_INLINED, 1)
    )
    # The inliner re-serialises attributes escaping only & and ": put < and > back as
    # entities in alt text (post titles), so no "<script" ever shows in the mail's source.
    inlined = _inliner().inline(html).replace(_NOT_INLINED, _MJML_RESET, 1)
    return _ALT.sub(_escape_alt, inlined)


def _escape_alt(match: re.Match[str]) -> str:
    return ' alt="' + match[1].replace("<", "&lt;").replace(">", "&gt;") + '"'


def _text(template: str, **context: object) -> str:
    text = _env().get_template(template).render(**context)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_confirmation(
    *, site_name: str, confirm_url: str, expires_days: int, name: str | None
) -> Rendered:
    """The double opt-in email: one button, the link as text, its expiry; nothing else."""
    if expires_days < 1:
        raise ValueError("expires_days must be at least 1")
    context = {
        "site_name": clean_text(site_name),
        "name": clean_text(name) or None,
        "confirm_url": _own_url(confirm_url, "confirm_url"),
        "expires_days": int(expires_days),
    }
    return Rendered(
        subject=f"Confirm your subscription to {context['site_name']}",
        html=compile_mjml("confirm.mjml", **context),
        text=_text("templates/confirm.txt", **context),
    )


def render_welcome(
    *,
    site_name: str,
    tagline: str,
    unsubscribe_url: str,
    archive_url: str,
    postal_address: str,
    name: str | None,
    manage_url: str | None = None,
) -> Rendered:
    """The welcome email sent after confirming: what to expect, where to change it, how to leave.

    Without `manage_url` the mail has no "Manage your subscription" link.
    """
    context = {
        "manage_url": _own_url(manage_url, "manage_url") if manage_url is not None else None,
        "site_name": clean_text(site_name),
        "tagline": clean_text(tagline),
        "name": clean_text(name) or None,
        "unsubscribe_url": _own_url(unsubscribe_url, "unsubscribe_url"),
        "archive_url": _own_url(archive_url, "archive_url"),
        "postal_address": clean_text(postal_address),
    }
    return Rendered(
        subject=f"Welcome to {context['site_name']}",
        html=compile_mjml("welcome.mjml", **context),
        text=_text("templates/welcome.txt", **context),
    )


def _digest_context(
    content: DigestContent, unsubscribe_url: str | None, manage_url: str | None
) -> dict[str, object]:
    """The digest's template values, every untrusted field cleaned and every URL checked."""
    cards = [
        {
            "rank": int(card.rank),
            "title": clip(card.title, TITLE_CHARS) or "(untitled)",
            "href": safe_url(card.url),
            "source": clip(card.source, SOURCE_CHARS),
            "author": clip(card.author, AUTHOR_CHARS) or None,
            "read_minutes": int(card.read_minutes) if card.read_minutes else None,
            "summary": clip(card.summary),
            "also_in": also_in_line(card.also_in, card.source),
            "sections": section_tag(card.sections),
            "image": safe_url(card.image_url),
        }
        for card in content.cards
    ]
    return {
        "site_name": clean_text(content.site_name),
        "tagline": clean_text(content.tagline),
        "week_label": clean_text(content.week_label),
        "intro": clean_text(content.intro),
        "selection_note": clip(content.selection_note, SELECTION_CHARS) or None,
        "preview": _preview(content.intro, cards),
        "cards": cards,
        "postal_address": clean_text(content.postal_address),
        "archive_url": _own_url(content.archive_url, "archive_url"),
        "signup_url": _own_url(content.signup_url, "signup_url"),
        "web_url": _own_url(content.web_url, "web_url") if content.web_url else None,
        "unsubscribe_url": unsubscribe_url,
        "manage_url": manage_url,
    }


def _preview(intro: str, cards: list[dict[str, object]]) -> str:
    """The inbox preview line: the intro, or without one the top titles, about 110 characters."""
    if clean_text(intro):
        return clip(intro, PREVIEW_CHARS)
    return clip("; ".join(str(card["title"]) for card in cards[:3]), PREVIEW_CHARS)


def render_digest(content: DigestContent, *, unsubscribe_url: str, manage_url: str) -> Rendered:
    """The digest email; pass UNSUBSCRIBE_PLACEHOLDER and MANAGE_PLACEHOLDER to compile it once
    for every reader (each copy's links are filled in by `MessageTemplate.fill`)."""
    context = _digest_context(
        content,
        _own_url(unsubscribe_url, "unsubscribe_url"),
        _own_url(manage_url, "manage_url"),
    )
    return Rendered(
        subject=clean_text(content.subject),
        html=compile_mjml("digest.mjml", **context),
        text=_text("templates/digest.txt", **context),
    )


def web_context(content: DigestContent) -> dict[str, object]:
    """The digest's values for a web page in the site's own layout: every untrusted field
    cleaned and cut as in the mail, every URL checked; no per-reader links."""
    return _digest_context(content, None, None)
