"""Names readers give (app/readers/names.py `clean_name`): no links, no markup, bounded.

A name goes into the confirmation mail sent to whatever address was typed, so a name that holds
a link or markup would let anyone mail a phishing line from this site (issue 11, item 8a)."""

from __future__ import annotations

import pytest

from app.readers.names import InvalidName, clean_name

BAD_NAMES = [
    "Your account is locked: https://evil.example/login",
    "visit evil.example now",
    "go to www.evil.example",
    "<a href='https://evil.example'>Ann</a>",
    "Ann <b>urgent</b>",
    "Ann &lt;script&gt;",
    "mail support@evil.example",
    "call 0800 123 456",
    "A" * 101,
    "Ann\u202eelgoog",  # right-to-left override
]
GOOD_NAMES = [
    "Ann",
    "José María O'Neill-Gómez",
    "J. R. R. Tolkien",
    "Zoë",
    "李小龙",
    "Dr. Ann Lee Jr.",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_with_links_markup_or_length_are_refused_with_a_reason(name):
    with pytest.raises(InvalidName) as refused:
        clean_name(name)
    assert refused.value.reason.startswith("The name")


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_ordinary_names_are_kept(name):
    assert clean_name(f"  {name} ") == name


@pytest.mark.parametrize("name", BAD_NAMES[:3])
def test_json_subscribe_refuses_them_with_a_422(client, published, name):
    answer = client.post("/subscribe", json={"email": "ann@example.org", "name": name})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("The name")
    assert published == []  # nothing stored, no confirmation mail


def test_the_form_shows_the_reason_again(client, published):
    form_page = client.get("/")
    token = client.cookies.get("digest_csrf")
    assert form_page.status_code == 200 and token
    answer = client.post(
        "/subscribe",
        data={"email": "ann@example.org", "name": BAD_NAMES[0], "csrf_token": token},
    )
    assert answer.status_code == 422
    assert "The name" in answer.text
    assert published == []
