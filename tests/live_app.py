"""The web app alone in a real uvicorn process, for tests where streaming or timing matters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.config import Settings
from tests.processes import ROOT, free_port, service_env, stop_process, wait_until


@contextmanager
def live_app(settings: Settings, log: Path) -> Iterator[str]:
    """`uvicorn app.web:create_app` on `settings`; yields its base URL, stops it on exit."""
    for _attempt in range(3):
        port = free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "app.web:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                ],
                cwd=ROOT,
                env={**service_env(settings), "DIGEST_SUBSCRIBE_RATE": settings.subscribe_rate},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base_url = f"http://127.0.0.1:{port}"

        def ready(process: subprocess.Popen[bytes] = process, base_url: str = base_url) -> str:
            if process.poll() is not None:
                return "exited"
            try:
                return "up" if httpx.get(f"{base_url}/healthz", timeout=2).status_code else ""
            except httpx.HTTPError:
                return ""

        if wait_until(ready, timeout=60, every=0.2) == "up":
            break
        stop_process(process)  # the port went to another test process: try another
    else:
        raise AssertionError(f"uvicorn did not start: {log.read_text(errors='replace')}")
    try:
        yield base_url
    finally:
        stop_process(process)
