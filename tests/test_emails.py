"""Tests for emails/: templates, escaping, once-encoded messages, DKIM and the rendered look."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import random
import re
import shutil
import struct
import subprocess
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.issues.mail import TEST_PREFIX
from emails.compose import (
    MANAGE_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    build_message,
    build_template,
    make_message_id,
    sign_dkim,
)
from emails.render import (
    DigestCard,
    DigestContent,
    Rendered,
    also_in_line,
    clean_text,
    render_confirmation,
    render_digest,
    render_welcome,
    safe_url,
)
from tests.smtp_server import missing

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
SENDER = "Weekly Digest <digest@news.example.org>"
LIST_ID = "Weekly Digest <weekly.news.example.org>"
# 200 characters, with every character that QP or HTML treats specially in a URL.
LONG_URL = ("https://news.example.org/unsubscribe/tok=ab%2Fcd&x=1?" + "q=%3D&a=b" * 30)[:200]
# The preference-centre link's: as long, with "=" and "&" too, different from the unsubscribe one.
MANAGE_URL = ("https://news.example.org/manage/eyJpIjo0Mn0=.aw_DJg&v=2?" + "s=%3D&w=1" * 30)[:190]

TITLES = [
    ("Trump-Putin meeting in Alaska: How is China viewing it?", "Deutsche Welle", "illuminem"),
    ("Europe's grid operators brace for a record solar summer", "Reuters", "Kate Abnett"),
    ("Heat pumps outsold gas boilers in Germany for the first time", "Clean Energy Wire", None),
    ("Why sodium-ion batteries are suddenly everywhere", "Canary Media", "Julian Spector"),
    ("Offshore wind auctions: what went wrong in the UK, and the fix", "Carbon Brief", None),
    ("Green hydrogen hubs stall as costs climb — “Grüße” from Rotterdam", "FT", "A. Müller"),
    ("Data centres and the grid: a 2026 reality check", "IEA", None),
    ("Circular economy: the textile recyclers finally scaling up", "Guardian", "Fiona Harvey"),
    ("Cities planting shade: the cheapest climate adaptation there is", "Bloomberg", None),
    ("Nuclear restarts in Japan, explained in five charts", "Nikkei Asia", "Ken Sato"),
]

# Other outlets of some sample stories: card 1 has two, card 2 six (four shown, "and 2 more").
ALSO_IN = {
    1: ("Reuters", "Bloomberg Green"),
    2: ("Deutsche Welle", "Carbon Brief", "Ørsted Newsroom", "Euronews", "AP", "Le Monde"),
}


def sample_content(
    cards: list[DigestCard] | None = None, *, web_url: str | None = None
) -> DigestContent:
    """A realistic ten-post digest; cards 3 and 7 have no image."""
    if cards is None:
        cards = [
            DigestCard(
                rank=rank,
                title=title,
                url=f"https://news.example.org/r/issue7.{rank}.sig",
                source=source,
                author=author,
                read_minutes=rank + 2,
                summary=(
                    f"{title} — what changed this week, who pays for it, and what it means for "
                    "households and grid operators across Europe, with numbers from the latest "
                    "reports and a look at the policy fights ahead in the new year."
                ),
                image_url=None if rank in (3, 7) else f"https://img.example.org/{rank}.png",
                also_in=ALSO_IN.get(rank, ()),
            )
            for rank, (title, source, author) in enumerate(TITLES, start=1)
        ]
    return DigestContent(
        site_name="Weekly Digest",
        tagline="Weekly. Free. Your Top 10 Sustainability & Energy Posts.",
        week_label="Week 48, 2026",
        subject="Your Top 10: Alaska summit, record solar — €1bn for heat pumps",
        intro="Good morning. Solar broke records, hydrogen hubs wobbled, and Japan restarted "
        "two reactors. Here are the ten posts readers valued most this week.",
        cards=cards,
        postal_address="Weekly Digest, Hauptstraße 1, 10115 Berlin, Germany",
        archive_url="https://news.example.org/archive",
        signup_url="https://news.example.org/",
        web_url=web_url,
    )


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def bodies(message: email.message.EmailMessage) -> tuple[str, str]:
    """The decoded text and HTML parts, line ends normalised to "\\n" as mail clients do."""
    plain = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    return plain.replace("\r\n", "\n"), rich.replace("\r\n", "\n")


def digest_template(rendered: Rendered | None = None):
    rendered = rendered or render_digest(
        sample_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    return build_template(
        sender=SENDER,
        subject="Deine Top 10 – Grüße, “Solar” & €",
        rendered=rendered,
        list_id=LIST_ID,
        feedback_id="7:digest:weekly:news",
        date=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
    )


# --- rendering ------------------------------------------------------------------------------


def test_confirmation_has_button_link_expiry_and_nothing_else() -> None:
    url = "https://news.example.org/confirm/abc.def?x=1&y=2"
    rendered = render_confirmation(
        site_name="Weekly Digest", confirm_url=url, expires_days=7, name="Ana"
    )
    assert "Confirm my subscription" in rendered.html
    assert rendered.html.count(f'href="{html.escape(url)}"') == 2  # button and text link
    assert "expires in 7 days" in rendered.html and "expires in 7 days" in rendered.text
    assert "ignore this email" in rendered.html and "ignore this email" in rendered.text
    assert url in rendered.text and "Hi Ana," in rendered.text
    assert "Read past issues" not in rendered.html and "unsubscribe" not in rendered.html.lower()
    assert rendered.subject == "Confirm your subscription to Weekly Digest"


def test_confirmation_refuses_a_non_http_link() -> None:
    with pytest.raises(ValueError, match="confirm_url"):
        render_confirmation(
            site_name="W", confirm_url="javascript:alert(1)", expires_days=7, name=None
        )


def test_welcome_has_unsubscribe_and_archive_links() -> None:
    rendered = render_welcome(
        site_name="Weekly Digest",
        tagline="Weekly. Free. Your Top 10 Sustainability & Energy Posts.",
        unsubscribe_url="https://news.example.org/unsubscribe/tok",
        archive_url="https://news.example.org/archive",
        postal_address="Hauptstraße 1, Berlin",
        name=None,
    )
    assert 'href="https://news.example.org/unsubscribe/tok"' in rendered.html
    assert 'href="https://news.example.org/archive"' in rendered.html
    assert "Sustainability &amp; Energy" in rendered.html
    assert "https://news.example.org/unsubscribe/tok" in rendered.text
    assert "https://news.example.org/archive" in rendered.text
    assert "Hauptstraße 1, Berlin" in rendered.html and "Hauptstraße 1, Berlin" in rendered.text


def test_digest_lists_every_card_with_its_links_and_footer() -> None:
    content = sample_content(web_url="https://news.example.org/archive/7")
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    for card in content.cards:
        assert html.escape(card.title, quote=False) in rendered.html
        assert card.title in rendered.text
        assert rendered.html.count(f'href="{card.url}"') >= 2  # title and "Read"
        assert f"Read: {card.url}" in rendered.text
        assert f"{card.rank}. {card.title}" in rendered.text
        assert f"{card.read_minutes} min read" in rendered.text
    images = re.findall(r'<img[^>]+src="([^"]+)"', rendered.html)
    assert images == [c.image_url for c in content.cards if c.image_url]
    assert f'href="{UNSUBSCRIBE_PLACEHOLDER}"' in rendered.html
    assert f"Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}" in rendered.text
    for needle in ("You get this because you subscribed at", "View in browser", "Past issues"):
        assert needle in rendered.html and needle in rendered.text
    assert 'href="https://news.example.org/archive/7"' in rendered.html
    assert "Hauptstraße 1" in rendered.html and "Hauptstraße 1" in rendered.text
    assert rendered.subject == content.subject


def test_digest_css_is_inlined_and_no_remote_fonts() -> None:
    rendered = render_digest(
        sample_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    title = html.escape(TITLES[0][0], quote=False)
    title_link = re.search(
        r'<a href="https://news\.example\.org/r/issue7\.1\.sig"[^>]*>' + title, rendered.html
    )
    assert title_link and "color: #12263a" in title_link.group(0)
    assert "@media only screen" in rendered.html  # the responsive rules are kept
    assert "googleapis" not in rendered.html and "<link" not in rendered.html


def test_no_template_starts_a_padding_shorthand_with_a_bare_zero() -> None:
    # mjml-python ignores padding="0 28px 14px" (a unitless first value): images then overflow.
    for template in Path(__file__).parent.parent.joinpath("emails").glob("*.mjml"):
        assert not re.search(r'padding="0 ', template.read_text()), template.name


def test_card_images_are_as_wide_as_the_content_box() -> None:
    root = Path(__file__).parent.parent / "emails"
    body = int(re.search(r'<mj-body[^>]*width="(\d+)px"', (root / "layout.mjml").read_text())[1])
    image = re.search(r"<mj-image [^>]*>", (root / "digest.mjml").read_text())[0]
    sides = re.search(r'padding="\d+px (\d+)px', image)
    assert sides, "the card image's padding must give its sides in px"
    box = body - 2 * int(sides[1])
    assert box == 544
    rendered = render_digest(
        sample_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    images = [attrs for tag, attrs in TagCollector(rendered.html).tags if tag == "img"]
    assert len(images) == sum(1 for card in sample_content().cards if card.image_url)
    assert {attrs["width"] for attrs in images} == {str(box)}
    # Outlook sizes the image by its table cell: that must be the same box.
    assert len(re.findall(rf"width: ?{box}px", rendered.html)) >= len(images)


def test_card_images_have_the_post_title_as_alt_text() -> None:
    content = sample_content()
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    alts = [attrs.get("alt") for tag, attrs in TagCollector(rendered.html).tags if tag == "img"]
    assert alts == [card.title for card in content.cards if card.image_url]
    title = '<script>alert(1)</script> "quoted" onerror="x" & {{ 7*7 }}'
    card = hostile_card(title=title, image_url="https://img.example.org/x.png")
    hostile = render_digest(
        sample_content([card]),
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        manage_url=MANAGE_PLACEHOLDER,
    )
    tags = TagCollector(hostile.html).tags
    (img,) = [attrs for tag, attrs in tags if tag == "img"]
    assert img["alt"] == clean_text(title) and "onerror" not in img
    assert "<script" not in hostile.html and "49" not in hostile.html


def test_every_email_declares_its_language_and_dark_mode_support() -> None:
    renders = [
        render_digest(
            sample_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
        ).html,
        render_confirmation(
            site_name="Weekly Digest", confirm_url="https://x.org/c/t", expires_days=7, name=None
        ).html,
    ]
    for markup in renders:
        tags = TagCollector(markup).tags
        assert tags[0] == ("html", {"lang": "en", "dir": "auto", **tags[0][1]})
        metas = {attrs.get("name"): attrs.get("content") for tag, attrs in tags if tag == "meta"}
        assert metas["color-scheme"] == "light dark"
        assert metas["supported-color-schemes"] == "light dark"


def preview_div(markup: str) -> tuple[str, str]:
    """The hidden preview text's style attribute and its text (the first div of the body)."""
    found = re.search(r'<body[^>]*><div style="([^"]*)">([^<]*)</div>', markup)
    assert found, "no preview text right after <body>"
    return found[1], html.unescape(found[2])


def test_preview_text_is_hidden_without_low_contrast_colours() -> None:
    content = sample_content()
    style, text = preview_div(
        render_digest(content, unsubscribe_url="https://x.org/u", manage_url="https://x.org/m").html
    )
    rules = dict(rule.split(":", 1) for rule in style.strip(";").split(";"))
    assert rules["display"] == "none" and rules["max-height"] in ("0", "0px")
    assert rules["opacity"] == "0" and rules["overflow"] == "hidden"
    assert "color" not in rules  # SpamAssassin HTML_FONT_LOW_CONTRAST: no white-on-light text
    assert "#ffffff" not in style.lower() and "#fff;" not in style.lower()
    assert text.startswith("Good morning. Solar broke records")


def test_preview_text_falls_back_to_the_top_titles_without_an_intro() -> None:
    content = replace(sample_content(), intro="  ")
    _, text = preview_div(
        render_digest(content, unsubscribe_url="https://x.org/u", manage_url="https://x.org/m").html
    )
    assert text.startswith(f"{TITLES[0][0]}; Europe's grid operators")
    assert len(text) <= 111 and text.endswith("…")


def test_digest_stays_under_gmail_clipping_size() -> None:
    """Gmail hides everything after ~102 KB of HTML, footer and unsubscribe link included."""
    long_url = "https://news.example.org/r/" + "t" * 150
    cards = [
        DigestCard(
            rank=rank,
            title="A long title about grid-scale storage and the energy transition " * 2,
            url=long_url,
            source="Some Long Source Name",
            author="An Author With A Long Name",
            read_minutes=9,
            summary="word " * 100,
            image_url=long_url,
            also_in=tuple(f"Another Long Source Name {n}" for n in range(9)),
        )
        for rank in range(1, 11)
    ]
    rendered = render_digest(sample_content(cards), unsubscribe_url=long_url, manage_url=long_url)
    assert rendered.html.count("min read") == 10 and rendered.html.count("and 5 more") == 10
    assert len(rendered.html.encode()) < 102_000


def test_summary_is_clipped_on_a_word_boundary() -> None:
    content = sample_content()
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    original = content.cards[0].summary
    assert len(original) > 240
    clipped = re.search(r"(Trump-Putin meeting in Alaska[^<]*…)", rendered.html).group(1)
    assert len(clipped) <= 221
    kept = html.unescape(clipped[:-1])
    assert original.startswith(kept) and original[len(kept)] == " "


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://x.org/a?b=1&c=2", "https://x.org/a?b=1&c=2"),
        ('https://x.org/"><script>', "https://x.org/%22%3E%3Cscript%3E"),
        ("https://bücher.de/ä", "https://xn--bcher-kva.de/%C3%A4"),
        ("https://x.org/%%UNSUBSCRIBE_URL%%", "https://x.org/%25%25UNSUBSCRIBE_URL%25%25"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//x.org/no-scheme", None),
        ("https://x.org/a b", None),
        ("", None),
    ],
)
def test_only_http_urls_become_links(raw: str, expected: str | None) -> None:
    assert safe_url(raw) == expected


def hostile_card(**overrides: object) -> DigestCard:
    fields = {
        "rank": 1,
        "title": "<script>alert(1)</script> {{ 7*7 }} {% if x %}y{% endif %} {% raw %}",
        "url": "javascript:alert(1)",
        "source": "Evil\r\nBcc: victim@example.com",
        "author": "</mj-text><mj-raw><b>bold</b></mj-raw>",
        "read_minutes": 2,
        "summary": 'x" onmouseover="alert(1) </mj-column></mj-section><mj-raw><iframe>',
        "image_url": "data:image/png;base64,AAAA",
    }
    fields.update(overrides)
    return DigestCard(**fields)


class TagCollector(HTMLParser):
    """Every start tag and its attributes, as a browser's parser would see them."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_hostile_post_stays_text_everywhere() -> None:
    content = sample_content([hostile_card()])
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    out = rendered.html
    assert "<script" not in out.lower() and "<iframe" not in out.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<b>bold</b>" not in out and "&lt;/mj-text&gt;&lt;mj-raw&gt;" in out
    assert "{{ 7*7 }}" in out and "{% if x %}y{% endif %}" in out and "49" not in out
    assert "javascript:" not in out and "data:image" not in out and "<img" not in out
    tags = TagCollector(out).tags
    assert not {tag for tag, _ in tags} & {"script", "iframe", "b", "mj-raw", "mj-text"}
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    links = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert links and all(
        link.startswith("https://") or link in (UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER)
        for link in links
    )
    assert "{{ 7*7 }}" in rendered.text and "<script>alert(1)</script>" in rendered.text
    assert "\r" not in rendered.text and "javascript:" not in rendered.text
    assert not re.search(r"^Bcc:", rendered.text, re.MULTILINE)
    assert "Evil Bcc: victim@example.com" in rendered.text


def test_hostile_post_cannot_forge_a_header_or_the_placeholder() -> None:
    card = hostile_card(
        title=f"Free {UNSUBSCRIBE_PLACEHOLDER} money {MANAGE_PLACEHOLDER}",
        summary=f"{MANAGE_PLACEHOLDER} here",
        url="https://ok.example/",
        # A post's image URL that spells a placeholder must not become the reader's own link.
        image_url=MANAGE_PLACEHOLDER,
        sections=(MANAGE_PLACEHOLDER,),
    )
    rendered = render_digest(
        sample_content([card]),
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        manage_url=MANAGE_PLACEHOLDER,
    )
    for mark in (UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER):
        assert rendered.html.count(mark) == 1  # only the footer link
        assert rendered.text.count(mark) == 1
    message = parse(
        digest_template(rendered).fill(
            to="reader@example.com",
            message_id="<digest.1.2@x.org>",
            unsubscribe_url=LONG_URL,
            manage_url=MANAGE_URL,
        )
    )
    assert message["Bcc"] is None and "victim" not in str(message.keys())
    text, page = bodies(message)
    assert text.count(LONG_URL) == 1 and page.count(html.escape(LONG_URL)) == 1
    assert text.count(MANAGE_URL) == 1 and page.count(html.escape(MANAGE_URL)) == 1


def test_a_story_with_other_outlets_says_also_in_under_its_summary() -> None:
    content = sample_content()
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    first, second = content.cards[0], content.cards[1]
    summary = rendered.html.index("what changed this week")  # the first card's summary
    also = rendered.html.index("Also in: Reuters, Bloomberg Green")
    assert summary < also < rendered.html.index(first.url, also) < rendered.html.index(second.url)
    six = "Also in: Deutsche Welle, Carbon Brief, Ørsted Newsroom, Euronews and 2 more"
    for part in (rendered.html, " ".join(rendered.text.split())):  # the text part is wrapped
        assert six in part and part.count("Also in:") == 2  # the other cards have no line
    plain = rendered.text.splitlines()
    line = plain.index("Also in: Reuters, Bloomberg Green")
    assert plain[line - 1].endswith("…") and plain[line + 1] == f"Read: {first.url}"  # summary


@pytest.mark.parametrize(
    ("names", "source", "expected"),
    [
        ((), "Reuters", None),
        (("Reuters", " reuters ", ""), "Reuters", None),  # only the card's own outlet: no line
        (("DW", "dw", "Reuters"), "Grist", "Also in: DW, Reuters"),
        (("A", "B", "C", "D"), "X", "Also in: A, B, C, D"),
        (("A", "B", "C", "D", "E"), "X", "Also in: A, B, C, D and 1 more"),
        (("A\r\nBcc: x@example.org", "B" * 60), "X", f"Also in: A Bcc: x@example.org, {'B' * 40}…"),
    ],
)
def test_also_in_names_at_most_four_outlets(
    names: tuple[str, ...], source: str, expected: str | None
) -> None:
    assert also_in_line(names, source) == expected


def test_hostile_outlet_names_stay_text_in_the_also_in_line() -> None:
    hostile = (
        "</mj-text><mj-raw><b>bold</b></mj-raw>",
        "<script>alert(1)</script>",
        'R&D "Daily"',
        "{{ 7*7 }} " + UNSUBSCRIBE_PLACEHOLDER,
        "{% raw %}",
    )
    card = hostile_card(url="https://ok.example/", also_in=hostile)
    content = sample_content([card])
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    out = rendered.html
    line = out[out.index("Also in:") :].split("</div>", 1)[0]
    assert line.startswith("Also in: &lt;/mj-text&gt;&lt;mj-raw&gt;&lt;b&gt;bold&lt;/b&gt;")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in line and "{{ 7*7 }}" in line
    assert "R&amp;D" in line and "and 1 more" in line
    tags = {tag for tag, _ in TagCollector(out).tags}
    assert not tags & {"script", "b", "mj-raw", "mj-text"}
    assert rendered.html.count(UNSUBSCRIBE_PLACEHOLDER) == 1  # only the footer link
    assert rendered.text.count(UNSUBSCRIBE_PLACEHOLDER) == 1
    text = " ".join(rendered.text.split())  # the line is wrapped at 72 columns
    assert (
        'Also in: </mj-text><mj-raw><b>bold</b></mj-raw>, <script>alert(1)</script>, R&D "Daily", '
        "{{ 7*7 }} %\u2060%UNSUBSCRIBE_URL%\u2060% and 1 more"
    ) in text


def test_also_in_is_issue_content_the_reader_slots_stay_the_same() -> None:
    plain = sample_content([replace(c, also_in=()) for c in sample_content().cards])
    without = digest_template(
        render_digest(plain, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER)
    )
    template = digest_template()
    slots = [part for part in template.parts if isinstance(part, str)]
    assert slots == [part for part in without.parts if isinstance(part, str)]
    literal = b"".join(part for part in template.parts if isinstance(part, bytes))
    assert b"Also in: Reuters, Bloomberg Green" in literal  # encoded once, in the shared bytes
    copies = [
        parse(
            template.fill(
                to=f"r{n}@example.com",
                message_id=f"<digest.7.{n}@x.org>",
                unsubscribe_url=f"https://news.example.org/u/{n}",
                manage_url=f"https://news.example.org/m/{n}",
            )
        )
        for n in (1, 2)
    ]
    for copy in copies:
        text, page = bodies(copy)
        assert "Also in: Reuters, Bloomberg Green" in text and "Also in: Reuters" in page


# --- compose ----------------------------------------------------------------------------------


def check_wire_format(raw: bytes) -> None:
    """CRLF everywhere, no line over 998 bytes, QP body lines within 76."""
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    head, _, body = raw.partition(b"\r\n\r\n")
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), "QP line too long"
    assert all(not line.endswith((b" ", b"\t")) for line in body.split(b"\r\n"))


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.org/u/short",
        LONG_URL,
        # "=" right where a 75-character line would end, to exercise escape-safe wrapping
        *[f"https://n.example/{'a' * pad}=b=c=d" for pad in range(50, 60)],
    ],
)
def test_filled_message_round_trips(url: str) -> None:
    manage = url.replace("https://", "https://my.", 1)  # its "=" fall elsewhere on the lines
    raw = digest_template().fill(
        to="reader@example.com",
        message_id="<digest.7.42@news.example.org>",
        unsubscribe_url=url,
        manage_url=manage,
    )
    check_wire_format(raw)
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    assert message["Subject"] == "Deine Top 10 – Grüße, “Solar” & €"
    assert b"Subject: Deine Top 10 =?utf-8?" in raw  # RFC 2047 on the wire
    assert message["To"] == "reader@example.com"
    assert message["Message-ID"] == "<digest.7.42@news.example.org>"
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk" and message["List-Id"] == LIST_ID
    assert message["Feedback-ID"] == "7:digest:weekly:news"
    assert message["MIME-Version"] == "1.0" and message["From"] == SENDER
    assert message["Date"].datetime == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    text, page = bodies(message)
    assert f"Unsubscribe: {url}\n" in text
    assert f"Manage your subscription: {manage}\n" in text
    assert f'href="{html.escape(url)}"' in page
    assert re.search(
        f'<a href="{re.escape(html.escape(manage))}"[^>]*>Manage your subscription<', page
    )
    assert message["List-Unsubscribe"] == f"<{url}>"  # the header stays the unsubscribe URL
    assert "Grüße" in text and "“Grüße”" in html.unescape(page)


def random_url(rng: random.Random, path: str, longest: int) -> str:
    """A URL of 0 to `longest` characters past its path, full of "=", "&" and "%"."""
    return path + "".join(rng.choice("a=&%b") for _ in range(rng.randint(0, longest)))


def test_qp_scheme_decodes_exactly_for_random_bodies() -> None:
    """Both placeholders anywhere (line start, end, twice, side by side, next to spaces/UTF-8)
    decode to their own reader's value."""
    rng = random.Random(48)
    alphabet = "ab =\t.ü€“\n<>&%" + UNSUBSCRIBE_PLACEHOLDER[:3] + MANAGE_PLACEHOLDER[:3]
    both = 0
    for _ in range(400):
        pieces = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200))) for _ in "1234"]
        pieces = pieces[: rng.randint(1, 4)]
        marks = [rng.choice((UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER)) for _ in pieces[1:]]
        url = random_url(rng, "https://x.example/u/", 180)
        manage = random_url(rng, "https://x.example/m/", 180)
        body, text_want, html_want = pieces[0], pieces[0], pieces[0]
        for mark, piece in zip(marks, pieces[1:], strict=True):
            value = url if mark == UNSUBSCRIBE_PLACEHOLDER else manage
            body += mark + piece
            text_want += value + piece
            html_want += html.escape(value) + piece
        both += len(set(marks)) == 2
        template = build_template(
            sender=SENDER,
            subject="s",
            rendered=Rendered(subject="s", html=body, text=body),
            list_id=LIST_ID,
            feedback_id=None,
        )
        assert template.needs_manage == (MANAGE_PLACEHOLDER in marks)
        raw = template.fill(
            to="r@example.com", message_id="<a@b>", unsubscribe_url=url, manage_url=manage
        )
        check_wire_format(raw)
        message = parse(raw)
        text, page = bodies(message)
        # The email package may add a final line end to a part; compare without it.
        assert text.rstrip("\n") == text_want.rstrip("\n")
        assert page.rstrip("\n") == html_want.rstrip("\n")
        assert message["List-Unsubscribe"] == f"<{url}>"
    assert both > 50  # many bodies had both links


def test_fill_timing(capsys: pytest.CaptureFixture[str]) -> None:
    template = digest_template()
    start = time.perf_counter()
    for n in range(10_000):
        raw = template.fill(
            to=f"reader{n}@example.com",
            message_id=f"<digest.7.{n}@x.org>",
            unsubscribe_url=LONG_URL,
            manage_url=MANAGE_URL,
        )
    elapsed = time.perf_counter() - start
    assert f"reader{n}@example.com".encode() in raw
    with capsys.disabled():
        print(f"\nfill(): {elapsed / 10_000 * 1e3:.4f} ms/message, {len(raw)} bytes")


def test_render_timing(capsys: pytest.CaptureFixture[str]) -> None:
    content = sample_content()
    render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )  # warm the template cache
    start = time.perf_counter()
    for _ in range(50):
        rendered = render_digest(
            content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
        )
    render_ms = (time.perf_counter() - start) / 50 * 1e3
    start = time.perf_counter()
    for _ in range(50):
        digest_template(rendered)
    build_ms = (time.perf_counter() - start) / 50 * 1e3
    assert rendered.html.count("min read") == 10
    with capsys.disabled():
        print(
            f"\nrender_digest (jinja+mjml+inline+text): {render_ms:.2f} ms/issue; "
            f"build_template: {build_ms:.2f} ms/issue; html {len(rendered.html)} chars"
        )


def test_message_id_is_deterministic() -> None:
    first = make_message_id(kind="digest", issue_id=7, subscriber_id=42, domain="x.org")
    assert first == make_message_id(kind="digest", issue_id=7, subscriber_id=42, domain="x.org")
    assert first == "<digest.7.42@x.org>"
    assert first != make_message_id(kind="digest", issue_id=7, subscriber_id=43, domain="x.org")
    one = make_message_id(kind="confirm", issue_id=None, subscriber_id=42, domain="x.org")
    two = make_message_id(kind="confirm", issue_id=None, subscriber_id=42, domain="x.org")
    assert one != two  # a re-sent confirmation must not look like a duplicate
    with pytest.raises(ValueError):
        make_message_id(kind="digest", issue_id=1, subscriber_id=1, domain="x.org>\r\nBcc: y")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "reader@example.com\r\nBcc: victim@example.com"),
        ("to", "reader@example.com\nBcc: victim@example.com"),
        ("to", "rëader@example.com"),
        ("message_id", "<a@b>\r\nBcc: victim@example.com"),
        ("unsubscribe_url", "https://x.org/u\r\nBcc: victim@example.com"),
        ("unsubscribe_url", "https://x.org/ü"),
        ("unsubscribe_url", "javascript:alert(1)"),
        ("unsubscribe_url", "https://x.org/" + "a" * 1000),
        ("unsubscribe_url", None),
        ("manage_url", "https://x.org/m\r\nBcc: victim@example.com"),
        ("manage_url", 'https://x.org/m"><script>'),
        ("manage_url", "https://x.org/m b"),
        ("manage_url", "https://x.org/ü"),
        ("manage_url", "javascript:alert(1)"),
        ("manage_url", "https://x.org/" + "a" * 1000),
        ("manage_url", None),
    ],
)
def test_fill_rejects_values_that_could_inject(field: str, value: str | None) -> None:
    values = {
        "to": "r@example.com",
        "message_id": "<a@b>",
        "unsubscribe_url": "https://x.org/u",
        "manage_url": "https://x.org/m",
    }
    values[field] = value
    with pytest.raises(ValueError):
        digest_template().fill(**values)


def test_template_rejects_unsafe_headers() -> None:
    rendered = Rendered(subject="s", html="<p>x</p>", text="x")
    common = {"sender": SENDER, "rendered": rendered, "list_id": LIST_ID, "feedback_id": None}
    with pytest.raises(ValueError):
        build_template(subject="s", extra_headers={"Bcc": "victim@example.com"}, **common)
    with pytest.raises(ValueError):
        build_template(subject="s", extra_headers={"X-Tag": "a\r\nBcc: v@example.com"}, **common)
    template = build_template(subject="Top\r\nBcc: victim@example.com", **common)
    message = parse(template.fill(to="r@example.com", message_id="<a@b>", unsubscribe_url=None))
    assert message["Bcc"] is None and message["Subject"] == "Top Bcc: victim@example.com"


# --- headers carrying people's text -----------------------------------------------------------

# Pieces of real-looking subjects in many scripts; a subject is a random run of them.
SUBJECT_PIECES = [
    "Your",
    "top",
    "10",
    "posts",
    "this",
    "week",
    "—",
    "semaine",
    "46",
    "–",
    "Grüße",
    "aus",
    "Köln",
    "naïve",
    "café",
    "Ölpreis",
    "Énergie",
    "solaire:",
    "l'été",
    "record",
    "à",
    "Montréal",
    "«",
    "cité",
    "»",
    "déjà",
    "façade",
    "Энергия",
    "ветра",
    "в",
    "Москве",
    "выросла",
    "на",
    "12%",
    "Зелёный",
    "водород",
    "气候变化",
    "能源转型",
    "日本の原発再稼働",
    "太陽光発電",
    "한국",
    "に関する5つのグラフ",
    "🌍",
    "🔥",
    "⚡️",
    "👩‍🔬",
    "🇩🇪",
    "🌱🌱",
    "€5bn",
    "£3",
    "¥",
    "“Solar”",
    "‘quoted’",
    "—",
    "–",
    "-",
    "&",
    "(update)",
    "UPDATE 1-",
    "news:",
    "a",
    "I",
    "x" * 40,
    "ß" * 30,
    "中" * 30,
    "=?utf-8?q?x?=",
    "?=",
    "=?",
    "_",
    "=",
    '"',
    "\\",
    "<b>",
    "ünïcödé",
    "CO₂",
    "½",
    "№",
    "\u00a0",
    "\u3000",
    "ñ",
    "Ελληνικά",
    "עברית",
    "العربية",
    "हिन्दी",
]


READER_TEXT_HEADERS = re.compile(rb"^(Subject|From|List-Id|Bcc):", re.IGNORECASE)


def parse_head(raw: bytes) -> email.message.EmailMessage:
    """The headers that carry user text (and any Bcc), each with its folded lines, parsed by the
    real parser; the rest of the message is left out (10,000 full parses take minutes)."""
    kept, keep = [], False
    for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            keep = bool(READER_TEXT_HEADERS.match(line))
        if keep:
            kept.append(line)
    return parse(b"\r\n".join(kept) + b"\r\n\r\n")


def random_subject(rng: random.Random) -> str:
    """A mixed-language subject; pieces joined by one space, sometimes none or a run of them."""
    parts = [rng.choice(SUBJECT_PIECES)]
    for _ in range(rng.randint(0, 16)):
        parts.append(rng.choice([" "] * 8 + ["", "  ", "   "]))
        parts.append(rng.choice(SUBJECT_PIECES))
    return "".join(parts)


def expected_header_text(text: str) -> str:
    """What a header keeps of `text`: runs of ASCII spaces become one, the ends are trimmed.

    That is the one normalisation (the editor's subject is stripped anyway); no-break and
    ideographic spaces, and every other character, come back exactly.
    """
    return re.sub(" {2,}", " ", text).strip(" ")


def test_random_mixed_language_headers_round_trip_exactly() -> None:
    rng = random.Random(2026)
    rendered = Rendered(subject="-", html="<p>Hi</p>", text="Hi\n")
    date = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    ids = {"message_id": "<digest.7.42@news.example.org>"}
    wrong: list[tuple[str, str, str | None]] = []
    for index in range(10_000):
        subject = random_subject(rng)
        want = expected_header_text(subject)
        # The digest and its test copies: one template per issue, filled per reader.
        # Every subject as a digest; every fifth also as a test copy and a transactional mail
        # (the same header writer; building whole messages is what makes this test slow).
        kinds = [("digest", subject), ("test", TEST_PREFIX + subject)][: 1 + (index % 5 == 0)]
        for kind, text in kinds:
            template = build_template(
                sender=SENDER,
                subject=text,
                rendered=rendered,
                list_id=LIST_ID,
                feedback_id="7:digest:weekly:news",
                date=date,
            )
            raw = template.fill(to="r@example.org", unsubscribe_url=LONG_URL, **ids)
            got = parse_head(raw)["Subject"]
            if got != expected_header_text(text):
                wrong.append((kind, text, got))
        if index % 5:
            continue
        # Confirmation and welcome: the site name is in the subject, the From and the List-Id.
        # (A name that itself spells an encoded-word or a quote is left to the subject.)
        name = expected_header_text(re.sub(r'=\?|\?=|["\\]', "", random_subject(rng))[:60])
        name = name.strip(" ") or "Digest"
        welcome = index % 10 == 0
        raw = build_message(
            sender=f'"{name}" <digest@news.example.org>',
            to="r@example.org",
            subject=(f"Welcome to {name}" if welcome else want),
            rendered=rendered,
            list_unsubscribe_url=LONG_URL if welcome else None,
            list_id=f"{name} <weekly.news.example.org>" if welcome else None,
            date=date,
            **ids,
        )
        message = parse_head(raw)
        if message["Subject"] != (f"Welcome to {name}" if welcome else want):
            wrong.append(("transactional", want, message["Subject"]))
        # Python's address parser trims and folds whitespace in a display name (no-break and
        # ideographic spaces too), so there every other character is compared exactly.
        shown = message["From"].addresses[0].display_name
        if " ".join(shown.split()) != " ".join(name.split()):
            wrong.append(("from", name, shown))
        listed = " ".join(str(message["List-Id"]).replace('"', "").split())  # a phrase, as From
        if welcome and listed != " ".join(f"{name} <weekly.news.example.org>".split()):
            wrong.append(("list-id", name, message["List-Id"]))
        assert message["Bcc"] is None
    assert not wrong, f"{len(wrong)} headers changed, e.g. {wrong[:3]}"


def test_long_headers_stay_within_line_limits() -> None:
    rendered = Rendered(subject="-", html="<p>Hi</p>", text="Hi\n")
    subject = "Ölpreis " * 20 + "気候変動" * 30 + " plain words at the end " * 5
    raw = build_template(
        sender=SENDER, subject=subject, rendered=rendered, list_id=LIST_ID, feedback_id=None
    ).fill(to="r@example.org", message_id="<a.1@b.org>", unsubscribe_url=None)
    head = raw.partition(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"List-Unsubscribe" not in line)
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?]+\?[bq]\?[^?]*\?=", head))
    assert parse(raw)["Subject"] == expected_header_text(subject)


@pytest.mark.parametrize(
    "subject",
    [
        "Top\r\nBcc: victim@example.com",
        "Top\nBcc: victim@example.com",
        "Top\rBcc: victim@example.com",
        "Top\x85Bcc: victim@example.com",
        "Top\u2028Bcc: victim@example.com",
        "Grüße\r\nBcc: victim@example.com",
        "Grüße =?utf-8?q?=0D=0ABcc:_victim@example.com?=",
    ],
)
def test_a_line_break_in_a_subject_never_becomes_a_header(subject: str) -> None:
    rendered = Rendered(subject="s", html="<p>x</p>", text="x")
    raw = build_template(
        sender=SENDER, subject=subject, rendered=rendered, list_id=LIST_ID, feedback_id=None
    ).fill(to="r@example.com", message_id="<a@b>", unsubscribe_url=None)
    head = raw.partition(b"\r\n\r\n")[0]
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    message = parse(raw)
    assert message["Bcc"] is None and "victim" not in " ".join(message.keys())
    assert "\r" not in message["Subject"] and "\n" not in message["Subject"]
    assert message["Subject"] in (
        "Top Bcc: victim@example.com",
        "Grüße Bcc: victim@example.com",
        "Grüße =?utf-8?q?=0D=0ABcc:_victim@example.com?=",  # stays text, never decoded
    )


def test_confirmation_message_is_transactional() -> None:
    rendered = render_confirmation(
        site_name="Weekly Digest", confirm_url="https://x.org/confirm/t", expires_days=7, name=None
    )
    raw = build_message(
        sender=SENDER,
        to="new@example.com",
        subject=rendered.subject,
        rendered=rendered,
        message_id="<confirm.1.ab@x.org>",
        list_unsubscribe_url=None,
    )
    check_wire_format(raw)
    message = parse(raw)
    assert message["List-Unsubscribe"] is None and message["Precedence"] is None
    assert "https://x.org/confirm/t" in bodies(message)[0]


def test_dkim_signature_verifies_and_covers_list_unsubscribe(tmp_path: Path) -> None:
    import dkim

    if not shutil.which("openssl"):
        missing("openssl is needed to make a test key")
    key_file = tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(key_file), "2048"], check=True, capture_output=True
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key_file), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    raw = digest_template().fill(
        to="reader@example.com",
        message_id="<digest.7.42@x.org>",
        unsubscribe_url=LONG_URL,
        manage_url=MANAGE_URL,
    )
    signed = sign_dkim(
        raw, selector="wd", domain="news.example.org", private_key=key_file.read_bytes()
    )

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"wd._domainkey.news.example.org." else b""

    assert dkim.verify(signed, dnsfunc=dnsfunc)
    header = parse(signed)["DKIM-Signature"]
    signed_headers = re.search(r"h=([^;]+)", header.replace(" ", "")).group(1).split(":")
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(signed_headers)
    tampered = signed.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X: y")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


# --- the look -------------------------------------------------------------------------------


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG, so screenshots show image slots without any network."""
    row = b"\x00" + bytes(rgb) * width

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")
def test_digest_screenshots_fit_desktop_and_phone() -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    rendered = render_digest(
        sample_content(web_url="https://news.example.org/archive/7"),
        unsubscribe_url="https://news.example.org/unsubscribe/" + "t" * 60,
        manage_url="https://news.example.org/manage/" + "m" * 60,
    )
    page_file = ARTIFACTS / "digest.html"
    page_file.write_text(rendered.html, encoding="utf-8")
    image = solid_png(1200, 630, (134, 176, 160))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            widths = {}
            for width in (600, 375):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.route(
                    "https://img.example.org/**",
                    lambda r: r.fulfill(status=200, content_type="image/png", body=image),
                )
                page.route("https://**", lambda route: route.abort())
                page.goto(page_file.as_uri())
                page.screenshot(path=str(ARTIFACTS / f"digest-{width}.png"), full_page=True)
                widths[width] = page.evaluate("document.documentElement.scrollWidth")
                loaded = page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
                assert loaded, "sample images did not load"
                page.close()
        finally:
            browser.close()
    assert widths[375] <= 375 + 1, f"horizontal overflow on a phone: {widths[375]}px"
    assert widths[600] <= 600 + 1
