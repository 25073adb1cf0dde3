"""`digest serve` from an empty folder: health, a subscribe by hand, the outbox, a clean stop."""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import sqlite3
import time

import httpx
import pytest

from tests.processes import embedded_service, wait_until

pytestmark = pytest.mark.slow


def _read(path):
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_serve_from_empty_folder_runs_the_whole_reader_journey(tmp_path):
    with embedded_service(tmp_path / "newcomer") as service:
        health = httpx.get(f"{service.base_url}/healthz").json()
        assert health == {"status": "ok", "database": "ok", "broker": "ok"}
        assert len(service.children()) >= 3  # digest serve + celery worker + celery beat
        # Both found the Celery app, which `workers.celery_app` makes only when asked for it.
        log = service.folder / "serve.log"
        wait_until(lambda: "beat: Starting..." in log.read_text(errors="replace"), timeout=30)
        ready = re.compile(r"embedded@\S+ ready\.")
        wait_until(lambda: ready.search(log.read_text(errors="replace")), timeout=30)

        answer = httpx.post(f"{service.base_url}/subscribe", json={"email": "new@example.org"})
        assert answer.status_code == 202
        first = wait_until(service.messages, timeout=60)[0]
        confirmation = _read(first)
        assert confirmation["To"] == "new@example.org"
        text = confirmation.get_body(("plain",)).get_content()
        link = re.search(rf"{re.escape(service.base_url)}/confirm/\S+", text).group(0)
        assert httpx.get(link).status_code == 200  # asks; a link scanner changes nothing
        with sqlite3.connect(service.folder / "var" / "digest.db") as db:
            assert db.execute("select status from subscribers").fetchall() == [("pending",)]
        confirmed = httpx.post(link)
        assert confirmed.status_code == 200 and "You&#39;re subscribed" in confirmed.text

        welcome = _read(wait_until(lambda: service.messages()[1:], timeout=60)[0])
        one_click = re.search(r"<(http[^>]+)>", welcome["List-Unsubscribe"])[1]
        left = httpx.post(
            one_click,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert left.status_code == 200

        with sqlite3.connect(service.folder / "var" / "digest.db") as db:
            assert db.execute("select status from subscribers").fetchall() == [("unsubscribed",)]

        children = service.children()
        os.kill(service.process.pid, signal.SIGTERM)
        service.process.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)], "children outlived digest serve"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead, it only waits for its parent to read its status
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
