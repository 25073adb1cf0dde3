"""Who the client is: X-Forwarded-For believed only from DIGEST_TRUSTED_PROXIES, and the limits
that hang on it (login per IP and per account, wrong admin bearer tokens)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import create_admin
from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade
from app.models import ConsentEvent
from app.web import create_app
from app.web.forwarded import client_address
from tests.conftest import ADMIN_TOKEN
from tests.processes import free_port, stop_process, wait_until
from tests.test_admin import CSRF, EMAIL, PASSWORD
from tests.test_issues import NOW

DIGEST = Path(sys.executable).parent / "digest"
SECRET = "trusted-proxies-test-secret-0123456789"


def networks(value: str) -> Settings:
    return Settings(trusted_proxies=value, secret_key=[SECRET])


# --- the walk from the right ----------------------------------------------------------------------


PROXIES = networks("127.0.0.1, 10.0.0.0/8, ::1").trusted_proxies


@pytest.mark.parametrize(
    ("peer", "header", "seen"),
    [
        ("198.51.100.7", ["203.0.113.9"], "198.51.100.7"),  # not a proxy: its header is a lie
        ("127.0.0.1", [], "127.0.0.1"),  # a proxy that sent no header
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        # The client wrote the left part itself; the proxy appended what it saw.
        ("127.0.0.1", ["6.6.6.6, 203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # two proxies
        ("127.0.0.1", ["6.6.6.6", "203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # header repeated
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # every hop ours: the first one
        ("127.0.0.1", ["not-an-ip, 10.1.2.3"], "10.1.2.3"),  # garbage: the last hop we believe
        ("127.0.0.1", [" 2001:DB8::1 "], "2001:db8::1"),
        ("::1", ["203.0.113.9"], "203.0.113.9"),
        ("testclient", ["203.0.113.9"], "testclient"),
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(peer, header, seen):
    assert client_address(peer, header, PROXIES) == seen


def test_with_no_trusted_proxies_the_header_is_never_read():
    assert Settings(secret_key=[SECRET]).trusted_proxies == ()
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


def test_hosts_and_networks_are_read_from_a_comma_separated_list():
    assert [str(n) for n in networks(" 10.0.0.0/8,192.168.1.1 ,fd00::/8").trusted_proxies] == [
        "10.0.0.0/8",
        "192.168.1.1/32",
        "fd00::/8",
    ]


@pytest.mark.parametrize("bad", ["10.0.0.300", "proxy.example.org", "10.0.0.0/33", "*"])
def test_a_bad_value_is_refused_naming_it(bad):
    with pytest.raises(ValidationError) as refused:
        networks(f"127.0.0.1,{bad}")
    assert bad in str(refused.value) and "IP address or network" in str(refused.value)


def test_a_bad_value_stops_the_command_with_a_readable_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(DIGEST_VAR_DIR=str(tmp_path / "var"), DIGEST_TRUSTED_PROXIES="10.0.0.0/33")
    done = subprocess.run(
        [str(DIGEST), "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done
    assert "DIGEST_TRUSTED_PROXIES" in done.stderr and "10.0.0.0/33" in done.stderr
    assert "Traceback" not in done.stderr


# --- through the app ------------------------------------------------------------------------------


@pytest.fixture
def proxied_app(settings, sessions, published):
    app = create_app(settings.model_copy(update={"trusted_proxies": PROXIES}))
    app.state.digest.sessions = sessions
    return app


@pytest.mark.parametrize(
    ("peer", "seen"), [("127.0.0.1", "203.0.113.9"), ("198.51.100.7", "198.51.100.7")]
)
def test_the_consent_record_keeps_the_address_the_proxy_saw(proxied_app, db, peer, seen):
    with TestClient(proxied_app, client=(peer, 40000)) as client:
        response = client.post(
            "/subscribe",
            json={"email": "ada@example.org"},
            headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"},
        )
    assert response.status_code == 202
    assert db.scalar(select(ConsentEvent.ip)) == seen


def test_wrong_admin_tokens_are_limited_per_ip_with_retry_after(app):
    limit = int(app.state.digest.settings.admin_token_rate.split("/")[0])
    wrong = {"Authorization": "Bearer not-the-token"}
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(app, client=("198.51.100.7", 40000)) as client:
        for _ in range(limit):
            assert client.get("/api/issues", headers=wrong).status_code == 403
        refused = client.get("/api/issues", headers=wrong)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        body_route = client.post("/api/posts", headers=right, json=[])
        assert body_route.status_code == 429  # even the right token waits on this address
    with TestClient(app, client=("198.51.100.8", 40000)) as elsewhere:
        assert elsewhere.get("/api/issues", headers=right).status_code == 200


def test_a_missing_token_or_the_right_one_does_not_count(app):
    limit = int(app.state.digest.settings.admin_token_rate.split("/")[0])
    with TestClient(app, client=("198.51.100.7", 40000)) as client:
        for _ in range(limit + 2):
            assert client.get("/api/issues").status_code == 401
            ok = client.get("/api/issues", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert ok.status_code == 200


# --- a real server: uvicorn must not rewrite the client address itself ----------------------------


@contextmanager
def digest_api(tmp_path: Path, **extra: str) -> Iterator[str]:
    """`digest api` on SQLite with one admin; yields its base URL."""
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        create_admin(session, email=EMAIL, password=PASSWORD, now=NOW)
        session.commit()
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(
        DIGEST_VAR_DIR=str(tmp_path / "var"),
        DIGEST_DATABASE_URL=url,
        DIGEST_SECRET_KEY=SECRET,
        DIGEST_BASE_URL=f"http://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    log = tmp_path / "api.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(DIGEST), "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=60, every=0.3)
        yield base
    finally:
        stop_process(process)


def login_attempts(base: str, forwarded_for: list[str]) -> list[int]:
    """One wrong-password login per X-Forwarded-For value, from this (loopback) machine."""
    codes = []
    with httpx.Client(base_url=base) as browser:
        for address in forwarded_for:
            page = browser.get("/admin/login")
            form = {"email": EMAIL, "password": "wrong password!", "csrf_token": ""}
            form["csrf_token"] = CSRF.search(page.text).group(1)
            answer = browser.post("/admin/login", data=form, headers={"X-Forwarded-For": address})
            codes.append(answer.status_code)
    return codes


def test_a_local_caller_cannot_pick_its_address_by_header(tmp_path):
    """No DIGEST_TRUSTED_PROXIES: six addresses in the header are still one caller (limit 5)."""
    with digest_api(tmp_path) as base:
        codes = login_attempts(base, [f"203.0.113.{n}" for n in range(1, 7)])
    assert codes == [401] * 5 + [429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(tmp_path):
    with digest_api(tmp_path, DIGEST_TRUSTED_PROXIES="127.0.0.1") as base:
        codes = login_attempts(base, ["203.0.113.1"] * 6 + ["203.0.113.2"])
    assert codes == [401] * 5 + [429, 401]


@pytest.mark.parametrize(
    ("peer", "headers", "code"),
    [
        ("127.0.0.1", {}, 200),
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, 401),  # a local proxy's outside caller
        ("198.51.100.7", {}, 401),
    ],
)
def test_metrics_are_open_only_to_a_local_caller_that_came_through_no_proxy(
    app, peer, headers, code
):
    with TestClient(app, client=(peer, 40000)) as client:
        assert client.get("/metrics", headers=headers).status_code == code
