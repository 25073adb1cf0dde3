"""Every HTML answer carries the browser-side defences (issue 11, item 8e): a Content-Security-
Policy that runs no inline script, nosniff, no framing by other sites, a Referrer-Policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "web" / "templates"
PAGES = [
    "/",
    "/archive",
    "/archive/123456",
    "/confirm/not-a-token",
    "/unsubscribe/not-a-token",
    "/admin/login",
]


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {part[0]: part[1:] for part in parts}


@pytest.mark.parametrize("path", PAGES)
def test_html_pages_carry_the_security_headers(client, path):
    answer = client.get(path)
    assert answer.headers["content-type"].startswith("text/html")
    policy = _directives(answer.headers["content-security-policy"])
    scripts = policy.get("script-src") or policy["default-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] in ("same-origin", "strict-origin-when-cross-origin")


def test_a_refusal_page_carries_them_too(client):
    answer = client.post("/subscribe", data={"email": "x"})  # no CSRF token: 403 page
    assert answer.status_code == 403
    assert "content-security-policy" in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_json_answers_are_nosniff(client):
    answer = client.get("/healthz")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        source = template.read_text()
        for match in re.finditer(r"<script\b[^>]*>", source, re.IGNORECASE):
            if "src=" not in match.group(0):
                offenders.append(f"{template.name}: inline {match.group(0)}")
        offenders += [
            f"{template.name}: {m.group(0)}"
            for m in re.finditer(r"\son[a-z]+\s*=", source, re.IGNORECASE)
        ]
        offenders += [
            f"{template.name}: javascript: URL" for _ in re.finditer("javascript:", source)
        ]
    assert offenders == []
