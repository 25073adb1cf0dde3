"""Each part in QP or base64, the smaller; the digest's size against Gmail's 102 KB clip."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import quopri
import random
from datetime import UTC, datetime

import pytest

from emails.compose import (
    MANAGE_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    MessageTemplate,
    build_template,
)
from emails.encoding import BASE64_LINE, Base64Tail
from emails.render import DigestCard, DigestContent, Rendered, render_digest
from tests.test_emails import LIST_ID, LONG_URL, SENDER, check_wire_format, sample_content

# Gmail hides everything after about 102 KB ("[Message clipped]"), the footer's unsubscribe
# link included. Counted in bytes, with no slack for what Gmail may add.
GMAIL_CLIP = 102_000
BASE = "https://digest.example.org"
# A real click-tracking and unsubscribe token's length (app.tracking.clicks, app.readers.links).
TOKEN = "eyJpIjoxMjMsInAiOjQ1Njc4fQ.aw_DJg.ODAuODG8uQRbFZSKGBZhaR4oxMw"

# Each script's heaviest case: two UTF-8 bytes a letter (accents, Greek, Cyrillic), three
# (CJK, Hangul) or four (emoji), every field of every card at the most the data model holds.
SCRIPTS = {
    "mixed": (
        "Énergie",
        "électricité",
        "Wärmepumpen",
        "Übertragungsnetz",
        "señal",
        "Łódź",
        "Ørsted",
        "Возобновляемая",
        "энергия",
        "ενέργεια",
        "ηλιακή",
        "日本の原発再稼働",
        "风电并网",
        "태양광",
        "—",
        "«»",
    ),
    "cjk": ("日本の原発再稼働", "风电并网", "태양광발전", "東京電力"),
    "emoji": ("🌞🔋⚡🌍🌱",),
}


def words(script: str, length: int, seed: int) -> str:
    """`length` characters of the script's words, different per seed."""
    pool = SCRIPTS[script]
    out: list[str] = []
    index = seed
    while len(" ".join(out)) < length:
        out.append(pool[index % len(pool)])
        index += 7
    return " ".join(out)[:length]


def worst_case_content(script: str = "mixed") -> DigestContent:
    """Ten posts at the data model's caps: 500-character titles, 200-character source and author,
    long summaries, long image URLs, nine other outlets, in all twelve sections (labels of 40
    characters, `app.sections.MAX_LABEL`); an intro of a few sentences and a long selection
    line."""
    cards = [
        DigestCard(
            rank=rank,
            title=words(script, 500, rank),  # Post.title is String(500)
            url=f"{BASE}/r/{TOKEN}{rank}",
            source=words(script, 200, rank + 1),  # Post.source and Post.author: String(200)
            author=words(script, 200, rank + 2),
            read_minutes=12,
            summary=words(script, 3000, rank + 3),
            image_url=(
                f"https://cdn.example-news.org/images/2026/11/30/{'a1b2c3d4' * 16}-{rank}.jpg"
                "?w=1200&h=630&fit=crop&auto=format"
            ),
            also_in=tuple(f"{n} {words(script, 40, rank + n)}" for n in range(9)),
            sections=tuple(f"{n} {words(script, 40, rank + n)}"[:40] for n in range(12)),
        )
        for rank in range(1, 11)
    ]
    return DigestContent(
        site_name="Weekly Digest",
        tagline="Weekly. Free. Your Top 10 Sustainability & Energy Posts.",
        week_label="Week 48, 2026",
        subject=words(script, 150, 0),
        intro=words(script, 400, 5),
        selection_note=words(script, 600, 6),
        cards=cards,
        postal_address="Weekly Digest, Hauptstraße 1, 10115 Berlin, Germany",
        archive_url=f"{BASE}/archive",
        signup_url=f"{BASE}/",
        web_url=f"{BASE}/archive/123",
    )


def template_for(rendered: Rendered) -> MessageTemplate:
    return build_template(
        sender=SENDER,
        subject=rendered.subject or "Weekly Digest",
        rendered=rendered,
        list_id=LIST_ID,
        feedback_id="123:digest:weekly:news.example.org",
        date=datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
    )


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def encodings(message: email.message.EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part["Content-Transfer-Encoding"] for part in message.walk()}


def decoded(message: email.message.EmailMessage, subtype: str) -> str:
    """A part's text as the reader gets it, line ends as "\\n"."""
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


def manage_url(n: int) -> str:
    """Reader n's preference-centre link, as long as a real one, each reader's length its own."""
    return f"{BASE}/manage/{TOKEN}=x{'y' * n}"


def fill(template: MessageTemplate, n: int, url: str, manage: str | None = None) -> bytes:
    return template.fill(
        to=f"reader{n}@example.org",
        message_id=f"<digest.123.{n}@news.example.org>",
        unsubscribe_url=url,
        manage_url=manage or manage_url(n),
    )


# --- which encoding -------------------------------------------------------------------------


def test_each_part_takes_the_smaller_encoding() -> None:
    """Cyrillic text is smaller in base64, ASCII markup in QP: each part chooses on its own."""
    text = (
        "Возобновляемая энергия: ветер и солнце.\n" * 40 + f"Отписка: {UNSUBSCRIBE_PLACEHOLDER}\n"
    )
    page = '<p style="margin:0"><a href="https://x.example/a">Grid news</a></p>\n' * 40
    page += f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>\n'
    # An independent yardstick (the standard library's encoders) agrees on which is smaller.
    for body, smaller in ((text, "base64"), (page, "quoted-printable")):
        data = body.encode()
        sizes = {
            "base64": len(base64.encodebytes(data)),
            "quoted-printable": len(quopri.encodestring(data)),
        }
        assert min(sizes, key=sizes.get) == smaller, sizes
    raw = fill(template_for(Rendered(subject="s", html=page, text=text)), 1, LONG_URL)
    check_wire_format(raw)
    message = parse(raw)
    assert encodings(message)["text/plain"] == "base64"
    assert encodings(message)["text/html"] == "quoted-printable"
    assert decoded(message, "plain") == text.replace(UNSUBSCRIBE_PLACEHOLDER, LONG_URL)
    assert decoded(message, "html") == page.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(LONG_URL))


def test_an_english_digest_stays_quoted_printable_and_a_worst_case_one_goes_base64() -> None:
    english = render_digest(
        sample_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    typical = parse(fill(template_for(english), 1, LONG_URL))
    assert set(encodings(typical).values()) - {None} == {"quoted-printable"}
    worst = render_digest(
        worst_case_content(), unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    message = parse(fill(template_for(worst), 1, LONG_URL))
    assert encodings(message)["text/html"] == "base64"
    assert encodings(message)["text/plain"] == "base64"


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_readers_copy_decodes_to_what_was_rendered(script: str) -> None:
    """Filled per reader (URL lengths of every remainder mod 3), parsed back: exactly the text."""
    rendered = render_digest(
        worst_case_content(script),
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        manage_url=MANAGE_PLACEHOLDER,
    )
    template = template_for(rendered)
    assert any(isinstance(part, Base64Tail) for part in template.parts)
    stored = MessageTemplate.loads(template.dumps())
    assert stored == template
    assert template.needs_manage and stored.needs_manage
    for n in range(6):
        url = f"{BASE}/unsubscribe/{TOKEN[: 40 + n]}"
        raw = fill(stored, n, url)
        assert raw == fill(template, n, url)
        check_wire_format(raw)
        message = parse(raw)
        assert message["To"] == f"reader{n}@example.org"
        assert message["Message-ID"] == f"<digest.123.{n}@news.example.org>"
        assert message["List-Unsubscribe"] == f"<{url}>"
        manage = manage_url(n)
        text = rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, url)
        assert decoded(message, "plain") == text.replace(MANAGE_PLACEHOLDER, manage)
        page = rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(url))
        page = page.replace(MANAGE_PLACEHOLDER, html.escape(manage))
        assert decoded(message, "html") == page.replace("\r\n", "\n")
        # On the wire, each part is exactly the standard encoding of the reader's filled text.
        for subtype, filled in (
            ("html", page),
            ("plain", text.replace(MANAGE_PLACEHOLDER, manage)),
        ):
            body = message.get_body((subtype,))
            wire = filled.replace("\n", "\r\n").encode()
            expected = base64.encodebytes(wire).replace(b"\n", b"\r\n")
            assert raw.count(expected) == 1 and body["Content-Transfer-Encoding"] == "base64"


def test_placeholders_anywhere_in_a_base64_part_decode_to_the_value() -> None:
    """Either placeholder at every offset in a base64 line, twice, side by side, first or last:
    each decodes to its own value, and the part is byte for byte the standard encoding."""
    rng = random.Random(102)
    marks = (UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER)
    alphabet = "жзийкл €“ü\n<>&" + UNSUBSCRIBE_PLACEHOLDER[:3] + MANAGE_PLACEHOLDER[:3]
    cases: list[list[str]] = []  # literal, mark, literal, mark, ..., literal
    for _ in range(300):
        pieces = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 150))) for _ in "1234"]
        case = [pieces[0]]
        for piece in pieces[1 : rng.randint(1, 4)]:
            case += [rng.choice(marks), piece]
        cases.append(case)
    # The first placeholder at each of a base64 line's 57 byte offsets ("ж" is two bytes), the
    # manage link first, the unsubscribe link after it on a later line.
    cases += [
        ["ж" * 40 + "a" * pad, mark, "ж" * 30, other, "ю" * pad]
        for pad in range(57)
        for mark, other in (marks, marks[::-1])
    ]
    offsets: dict[str, set[int]] = {mark: set() for mark in marks}
    for case in cases:
        body = "".join(case)
        # Values as long as a base64 line and more, full of "=", so they cross line ends.
        url = "https://x.example/u/" + "".join(
            rng.choice("a=&%b") for _ in range(rng.randint(0, 90))
        )
        manage = "https://x.example/m/" + "".join(
            rng.choice("=&c") for _ in range(rng.randint(40, 120))
        )
        value = {UNSUBSCRIBE_PLACEHOLDER: url, MANAGE_PLACEHOLDER: manage}
        text = "".join(value.get(piece, piece) for piece in case)
        page = "".join(html.escape(value[piece]) if piece in value else piece for piece in case)
        template = template_for(Rendered(subject="s", html=body, text=body))
        raw = fill(template, 1, url, manage)
        check_wire_format(raw)
        message = parse(raw)
        if encodings(message)["text/plain"] == "base64" and len(case) > 1:
            first = "".join(case[:1]).replace("\n", "\r\n").encode()
            offsets[case[1]].add(len(first) % BASE64_LINE)
            for filled in (text, page):
                wire = filled.replace("\n", "\r\n").encode()
                copies = 2 if text == page else 1  # both parts, when no value has an "&"
                assert raw.count(base64.encodebytes(wire).replace(b"\n", b"\r\n")) == copies
        assert decoded(message, "plain").rstrip("\n") == text.rstrip("\n")
        assert decoded(message, "html").rstrip("\n") == page.rstrip("\n")
    assert offsets == {mark: set(range(BASE64_LINE)) for mark in marks}


def test_a_stored_template_with_a_corrupt_base64_tail_is_refused() -> None:
    body = "Возобновляемая энергия " * 20 + UNSUBSCRIBE_PLACEHOLDER
    stored = template_for(Rendered(subject="s", html=body, text=body)).dumps()
    assert b'{"base64": [' in stored
    with pytest.raises(ValueError):
        MessageTemplate.loads(stored.replace(b'{"base64": [', b'{"base64": [99999999, ', 1))
    with pytest.raises(ValueError):
        MessageTemplate.loads(stored.replace(b'{"base64": [', b'{"base64": ["from", ', 1))


# --- size -----------------------------------------------------------------------------------


def sizes(content: DigestContent) -> dict[str, int]:
    """Bytes of the decoded HTML part (what Gmail counts) and of one reader's whole message."""
    rendered = render_digest(
        content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
    )
    raw = fill(template_for(rendered), 1, f"{BASE}/unsubscribe/{TOKEN}")
    message = parse(raw)
    return {
        "html": len(message.get_body(("html",)).get_content().encode()),
        "text": len(message.get_body(("plain",)).get_content().encode()),
        "message": len(raw),
    }


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_worst_case_issue_stays_under_gmails_clipping_limit(script: str) -> None:
    measured = sizes(worst_case_content(script))
    assert measured["html"] < GMAIL_CLIP and measured["message"] < GMAIL_CLIP, (
        f"{script} worst case: {measured} bytes; Gmail clips past {GMAIL_CLIP}"
    )
    # The cuts that keep it there still show every card in full: title, summary, outlets, link.
    rendered = render_digest(
        worst_case_content(script),
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        manage_url=MANAGE_PLACEHOLDER,
    )
    assert rendered.html.count("min read") == 10 and rendered.html.count("and 5 more") == 10
    assert rendered.text.count("…") >= 30  # titles, summaries and bylines were cut


def test_a_typical_issue_is_well_under_the_limit() -> None:
    measured = sizes(sample_content())
    assert measured["message"] < GMAIL_CLIP / 2, measured
