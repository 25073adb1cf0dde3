"""Reader search (app/readers/directory.py through GET /api/subscribers?q=): the text is literal.

`%` and `_` are LIKE wildcards and NUL is a byte PostgreSQL refuses in text (issue 11, item 8d)."""

from __future__ import annotations

import pytest

from app.models import Subscriber
from tests.test_sending import T0


@pytest.fixture
def readers(db):
    for email in ("a_b@example.org", "axb@example.org", "100%@example.org", "100x@example.org"):
        db.add(
            Subscriber(email=email, status="confirmed", source="test", created_at=T0, updated_at=T0)
        )
    db.commit()


def _found(client, admin_headers, q: str) -> list[str]:
    answer = client.get("/api/subscribers", params={"q": q}, headers=admin_headers)
    assert answer.status_code == 200, answer.text
    return sorted(item["email"] for item in answer.json()["items"])


def test_underscore_and_percent_match_only_themselves(client, admin_headers, readers):
    assert _found(client, admin_headers, "a_b") == ["a_b@example.org"]
    assert _found(client, admin_headers, "100%") == ["100%@example.org"]
    assert _found(client, admin_headers, "%") == ["100%@example.org"]


def test_a_nul_in_the_search_is_a_422_with_a_reason(client, admin_headers, readers):
    answer = client.get("/api/subscribers", params={"q": "a\0b"}, headers=admin_headers)
    assert answer.status_code == 422, answer.text
    assert "NUL" in answer.json()["detail"]


def test_a_nul_in_the_admin_search_is_not_a_500(client, readers):
    answer = client.get("/admin/readers", params={"q": "a\0b"}, follow_redirects=False)
    assert answer.status_code < 500
