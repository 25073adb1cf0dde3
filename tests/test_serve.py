"""`digest serve` from an empty folder: health, a subscribe by hand, the outbox, a clean stop;
the demo's output, a busy port, `make run PORT=…`."""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import ROOT, embedded_service, free_port, stop_process, wait_until

pytestmark = pytest.mark.slow


def _read(path):
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_serve_from_empty_folder_runs_the_whole_reader_journey(tmp_path):
    with embedded_service(tmp_path / "newcomer", "--verbose") as service:
        health = httpx.get(f"{service.base_url}/healthz").json()
        assert health == {"status": "ok", "database": "ok", "broker": "ok"}
        assert len(service.children()) >= 3  # digest serve + celery worker + celery beat
        # Both found the Celery app, which `workers.celery_app` makes only when asked for it;
        # --verbose shows what they log (the default is quiet, see the demo test below).
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


CELERY_CHATTER = ("celery@", "[config]", "[queues]", "beat: Starting", " ready.", "Connected to")
NOTICE = re.compile(
    r"╭─+╮\n│  Open (?P<url>\S+)/admin — log in as (?P<email>\S+) / (?P<password>\S+) +│\n"
    r"│  .*var/demo-login.txt.* +│\n╰─+╯\n"
)


def _notice(log: Path) -> re.Match[str] | None:
    return NOTICE.search(log.read_text(errors="replace"))


def test_demo_output_ends_with_the_login_notice_and_no_celery_banner(tmp_path):
    with embedded_service(tmp_path / "demo", "--demo") as service:
        log = service.folder / "serve.log"
        notice = wait_until(lambda: _notice(log), timeout=30)
        assert notice["url"] == service.base_url and notice["email"] == "admin@example.org"
        var = service.folder / "var"
        assert (var / "demo-admin.txt").read_text().strip() == notice["password"]
        kept = var / "demo-login.txt"
        assert kept.read_text() == notice.group(0)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        # The worker and beat run (quietly): their pid files name live processes of the service.
        pids = {int((var / f"celery-{name}.pid").read_text()) for name in ("worker", "beat")}
        assert pids <= set(service.children())
        text = log.read_text(errors="replace")
    before, after = text[: notice.start()], text[notice.end() :]
    assert "Uvicorn running on" in before and "demo: draft issue #1" in before
    # After the notice only the requests' access log lines (and the stop) may follow.
    started = after.split("Shutting down")[0]
    assert all("uvicorn.access" in line for line in started.splitlines() if line.strip()), after
    assert not [word for word in CELERY_CHATTER if word in text], text


def test_serve_on_a_busy_port_says_so_in_one_line_and_starts_nothing(tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    digest = Path(sys.executable).parent / "digest"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [str(digest), "serve", "--demo", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert f"port {port} on 127.0.0.1 is taken (address already in use)" in stderr
    assert list(folder.iterdir()) == []  # no var/: nothing migrated, written or queued
    assert _process_group(process.pid) == []  # no worker or beat left behind


def _process_group(group: int) -> list[int]:
    """The live processes of a process group (a started worker or beat would stay in it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == group and _alive(int(entry.name)):
                    members.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return members


def test_make_run_serves_on_the_port_it_is_given(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update({"DIGEST_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        # -o: the installed venv is used as it is (no pip run in a test).
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def healthy() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=90, every=0.3)
        notice = wait_until(lambda: _notice(log), timeout=30)
        assert notice["url"] == f"http://127.0.0.1:{port}"
        assert f"digest serve --demo --port {port}" in log.read_text()
    finally:
        stop_process(process, timeout=20)
