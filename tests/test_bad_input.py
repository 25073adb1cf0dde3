"""Bad input answers 4xx with a reason, never 500 (issue 11, item 5).

Deeply nested JSON, integers past what a database id holds, and bodies far past the limit: each
is refused with a status the caller can act on and a sentence saying why. The oversized body is
sent to a real server in chunks, to see that it is cut at the limit, not read whole first.
"""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from app.config import Settings
from app.migrate import upgrade
from tests.live_app import live_app
from tests.test_admin import admin_client, editor  # noqa: F401 - fixtures

DEEP_ARRAY = "[" * 5000 + "]" * 5000  # 10 kB: under every body limit, past Python's recursion
TOO_BIG = "9" * 20  # past 64 bits
JSON = {"content-type": "application/json"}


def _reason(response) -> str:
    """The refusal's sentence, from JSON or a page."""
    if response.headers.get("content-type", "").startswith("application/json"):
        detail = response.json().get("detail")
        assert isinstance(detail, str), response.text  # one sentence, not a list of dicts
        return detail
    return response.text


@pytest.mark.parametrize("body", [DEEP_ARRAY, '{"email": ' + DEEP_ARRAY + "}"])
def test_deeply_nested_json_on_subscribe_is_a_400_that_says_so(client, body):
    response = client.post("/subscribe", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert "nested" in _reason(response)


@pytest.mark.parametrize("path", ["/api/posts", "/api/issues", "/api/subscribers/import"])
def test_deeply_nested_json_on_the_api_is_a_400_that_says_so(client, admin_headers, path):
    body = '{"week": ' + DEEP_ARRAY + "}" if path == "/api/issues" else DEEP_ARRAY
    response = client.post(path, content=body, headers={**admin_headers, **JSON})
    # The import reads its body by hand and answers a body it cannot use with 422, as before.
    assert response.status_code == (422 if path.endswith("import") else 400), response.text
    assert "nested" in _reason(response)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/issues/{TOO_BIG}",
        f"/api/issues/{TOO_BIG}/progress",
        f"/api/issues/{TOO_BIG}/preview",
        f"/api/subscribers/{TOO_BIG}/export",
        f"/api/issues?offset={TOO_BIG}",
        f"/api/subscribers?offset={TOO_BIG}",
        f"/api/posts?offset={TOO_BIG}",
        "/api/issues/2147483648",  # one past a PostgreSQL integer
    ],
)
def test_ids_and_offsets_past_64_bits_on_the_api_are_422(client, admin_headers, path):
    response = client.get(path, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert "less than or equal to" in _reason(response)


def test_a_huge_archive_id_is_a_404_page(client):
    response = client.get(f"/archive/{TOO_BIG}")
    assert response.status_code == 404, response.text
    assert "no such issue" in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/admin/readers?page={TOO_BIG}",
        f"/admin/history?page={TOO_BIG}",
        f"/admin/outbox?page={TOO_BIG}",
        f"/admin/issues/{TOO_BIG}",
        f"/admin/readers/{TOO_BIG}",
    ],
)
def test_huge_numbers_on_admin_pages_are_4xx_pages(admin_client, path):  # noqa: F811
    response = admin_client.get(path, follow_redirects=False)
    assert 400 <= response.status_code < 500, response.text


# -- oversized bodies on a real server ---------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("bodies")
    url = f"sqlite:///{folder / 'digest.db'}"
    upgrade(url)
    settings = Settings(
        var_dir=folder / "var",
        database_url=url,
        secret_key=["test-secret-key-0123456789abcdef"],
        admin_token="test-admin-token-0123456789",
        subscribe_rate="1000/minute",
    )
    with live_app(settings, folder / "uvicorn.log") as base_url:
        yield base_url


def _chunked_upload(base_url: str, path: str, content_type: str, total: int) -> tuple[int, int]:
    """POST `total` bytes in 64 kB chunks; (status, bytes sent when the answer came)."""
    host, port = base_url.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        prefix = b'{"email": "' if "json" in content_type else b"email="
        sock.sendall(b"%x\r\n%s\r\n" % (len(prefix), prefix))
        deadline = time.monotonic() + 120
        answer = b""
        while sent < total and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        else:
            try:
                if "json" in content_type:
                    sock.sendall(b'2\r\n"}\r\n')
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        try:
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1]), sent


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/subscribe", "application/json"),
        ("/subscribe", "application/x-www-form-urlencoded"),
    ],
)
def test_a_60_mb_chunked_body_is_cut_at_the_limit(server, path, content_type):
    status, sent = _chunked_upload(server, path, content_type, total=60 * 1024 * 1024)
    assert status == 413
    assert sent < 4 * 1024 * 1024, f"the server read {sent:,} bytes before refusing"


def test_the_api_cuts_a_chunked_body_at_its_limit_too(server):
    status, sent = _chunked_upload(server, "/api/posts", "application/json", total=60 * 1024 * 1024)
    assert status in (401, 413)  # without a token it is refused before reading anything
    assert sent < 12 * 1024 * 1024, f"the server read {sent:,} bytes before refusing"


def test_the_log_has_no_traceback(server, tmp_path_factory):
    log = Path(server and tmp_path_factory.getbasetemp())
    texts = [p.read_text(errors="replace") for p in log.rglob("uvicorn.log")]
    assert texts and not any("Traceback" in text for text in texts)
