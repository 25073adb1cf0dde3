"""Real processes for end-to-end tests: Celery workers on a real broker, against a real database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from app.config import Settings
from workers.celery_app import make_celery

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_queue() -> str:
    """A queue name of its own, so parallel test processes never take each other's tasks."""
    return f"test-{uuid.uuid4().hex[:10]}"


def service_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child process see the same settings as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(
        {
            "DIGEST_VAR_DIR": str(settings.var_dir),
            "DIGEST_DATABASE_URL": settings.database_url,
            "DIGEST_BROKER_URL": settings.broker_url,
            "DIGEST_QUEUE": settings.queue,
            "DIGEST_SMTP_URL": settings.smtp_url,
            "DIGEST_BASE_URL": settings.base_url,
            "DIGEST_SECRET_KEY": ",".join(settings.secret_key),
            "DIGEST_ADMIN_TOKEN": settings.admin_token,
            "DIGEST_FROM": settings.from_address,
            "DIGEST_POSTAL_ADDRESS": settings.postal_address,
            "DIGEST_BATCH_SIZE": str(settings.batch_size),
            "DIGEST_LEASE_SECONDS": str(settings.lease_seconds),
            "DIGEST_RETRY_DELAYS": ",".join(str(d) for d in settings.retry_delays),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextmanager
def celery_worker(
    settings: Settings, *, log: Path, concurrency: int = 1, pool: str = "solo", name: str = "w"
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on `settings`' broker and queue; stopped on exit."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        settings.queue,
        "-n",
        f"{name}-{uuid.uuid4().hex[:6]}@%h",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=service_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def publisher_for(settings: Settings) -> tuple[Celery, Callable[[str, tuple[Any, ...]], None]]:
    """A real Celery producer on `settings`' broker, as a publisher for `app.db.set_publisher`."""
    app = make_celery(settings)

    def publish(name: str, args: tuple[Any, ...], countdown: float | None = None) -> None:
        app.send_task(name, args=list(args), queue=settings.queue, countdown=countdown)

    return app, publish


def purge_queue(settings: Settings) -> None:
    """Remove a test queue's leftovers from Redis."""
    client = redis.Redis.from_url(settings.broker_url)
    client.delete(settings.queue)
    client.close()


def wait_until(predicate: Callable[[], Any], *, timeout: float = 30, every: float = 0.1) -> Any:
    """Poll `predicate` until it returns something truthy; fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s: {predicate}")


class EmbeddedService:
    """`digest serve` running in its own folder, as a newcomer would start it."""

    def __init__(self, folder: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.folder, self.port, self.process = folder, port, process
        self.base_url = f"http://127.0.0.1:{port}"

    @property
    def outbox(self) -> Path:
        return self.folder / "var" / "outbox"

    def messages(self) -> list[Path]:
        return sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []

    def children(self) -> list[int]:
        """Process ids of everything `digest serve` started (its whole process group)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        pids.append(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    continue
        return pids


@contextmanager
def embedded_service(folder: Path, *args: str, timeout: float = 90) -> Iterator[EmbeddedService]:
    """Start `digest serve` in an empty folder with no DIGEST_* settings; stop it on exit.

    The port is picked free but can be taken before the server binds it (parallel tests):
    then the server exits, and it is started again on another port."""
    folder.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):
        service = _start_embedded(folder, args, timeout)
        if service is not None:
            break
    else:
        raise AssertionError(f"digest serve did not start: {(folder / 'serve.log').read_text()}")
    try:
        yield service
    finally:
        stop_process(service.process, timeout=20)


def _start_embedded(folder: Path, args: tuple[str, ...], timeout: float) -> EmbeddedService | None:
    """A healthy `digest serve` on a fresh port, or None if the port was lost to another."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    digest = Path(sys.executable).parent / "digest"
    log = folder / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(digest), "serve", "--port", str(port), *args],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = EmbeddedService(folder, port, process)
    bound = f"Uvicorn running on http://127.0.0.1:{port}"

    def ready() -> bool | str:
        if process.poll() is not None:
            return "exited"
        if bound not in log.read_text(errors="replace"):  # not ours until it has bound the port
            return False
        try:
            return httpx.get(f"{service.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    outcome = wait_until(ready, timeout=timeout, every=0.3)
    if outcome == "exited":
        stop_process(process)
        if "address already in use" in log.read_text(errors="replace").lower():
            return None
        raise AssertionError(f"digest serve exited: {log.read_text(errors='replace')}")
    return service
