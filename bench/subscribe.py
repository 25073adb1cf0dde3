"""POST /subscribe under load vs a constant endpoint of the same app: req/s ratio and latency."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import jobs  # noqa: E402  (task names only: no settings are read on import)

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
CONSTANT_PATH = "/bench/constant"
SUBSCRIBE_PATH = "/subscribe"
TARGET_RATIO = 0.40
TARGET_P99_MS = 100.0
MAX_ERROR_SHARE = 0.01
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")


# --- the server: the real app plus one constant route, in its own process -----------------------


def serve(port: int, env: dict[str, str], log_path: str) -> None:
    """Run the real app (plus a constant route) under uvicorn: one worker, httptools."""
    # Tracebacks of failing requests go to a file the report summarises, not over the figures.
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # Before any app import: the Celery app that publishes after commit reads the process settings.
    os.environ.update(env)
    import uvicorn

    from app.config import get_settings
    from app.web import create_app

    app = create_app(get_settings())

    app.post(CONSTANT_PATH)(constant)
    uvicorn.run(
        app, host="127.0.0.1", port=port, http="httptools", log_level="warning", access_log=False
    )


async def constant(request: Request) -> JSONResponse:
    """The yardstick: read the same JSON body /subscribe reads, answer what it answers."""
    await request.json()
    return JSONResponse({"status": "check-your-inbox"}, status_code=202)


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1 only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_errors(log_path: Path, limit: int = 3) -> list[str]:
    """The most frequent exception lines the server logged, with their counts."""
    if not log_path.exists():
        return []
    found = Counter(
        line.strip()[:160]
        for line in log_path.read_text(errors="replace").splitlines()
        if EXCEPTION_LINE.match(line)
    )
    return [f"{count:,} x {line}" for line, count in found.most_common(limit)]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process, all threads (Linux /proc); NaN where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_listening(port: int, server: multiprocessing.process.BaseProcess) -> None:
    """Block until the server accepts connections; fail if it died or took over 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise RuntimeError(f"the server process exited with code {server.exitcode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not listen within 30 s")


# --- the load: a minimal keep-alive HTTP/1.1 client in its own process --------------------------


@dataclass
class Phase:
    """One timed run of the client against one path."""

    port: int
    path: str
    connections: int
    warmup: float
    seconds: float
    first_address: int  # numbering of bench-{n}@example.org, unique across phases
    max_requests: int
    issued: int = 0
    ok_total: int = 0  # 2xx answers, warm-up included (each one a stored subscriber)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def request(self) -> bytes:
        """The next request: a JSON body with an address never sent before."""
        body = b'{"email": "bench-%d@example.org"}' % (self.first_address + self.issued)
        self.issued += 1
        head = (
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: bench-subscribe\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (self.path.encode(), self.port, len(body))
        )
        return head + body


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError("answer without Content-Length")
    end = lowered.find(b"\r\n", at + 2)
    return int(lowered[at + 17 : end])


async def _one_connection(phase: Phase, measure_from: float, end: float) -> None:
    """Send requests back to back on one keep-alive connection until `end`."""
    reader = writer = None
    while time.perf_counter() < end and phase.issued < phase.max_requests:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", phase.port)
            began = time.perf_counter()
            writer.write(phase.request())
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
            done = time.perf_counter()
            status = int(head[9:12])
        except (OSError, ValueError, asyncio.IncompleteReadError) as error:
            phase.failures[type(error).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        if 200 <= status < 300:
            phase.ok_total += 1
        if measure_from <= done <= end:
            phase.statuses[status] += 1
            phase.latencies.append(done - began)
    if writer is not None:
        writer.close()


async def _drive(phase: Phase) -> float:
    measure_from = time.perf_counter() + phase.warmup
    end = measure_from + phase.seconds
    tasks = [_one_connection(phase, measure_from, end) for _ in range(phase.connections)]
    # Bounded in time even if the server hangs: a stuck answer cannot hold the run past this.
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=phase.warmup + phase.seconds + 30)
    return min(time.perf_counter(), end) - measure_from


def run_phase(phase: Phase) -> dict[str, Any]:
    """Load one path for warm-up + seconds; the figures of the measured window."""
    window = asyncio.run(_drive(phase))
    latencies = sorted(phase.latencies)

    def percentile(share: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    answered = sum(phase.statuses.values())
    errors = answered - sum(n for s, n in phase.statuses.items() if 200 <= s < 300)
    return {
        "path": phase.path,
        "rps": answered / window if window > 0 else 0.0,
        "answered": answered,
        "errors": errors + sum(phase.failures.values()),
        "statuses": dict(phase.statuses),
        "failures": dict(phase.failures),
        "ok_total": phase.ok_total,
        "issued": phase.issued,
        "p50": percentile(0.50),
        "p90": percentile(0.90),
        "p99": percentile(0.99),
        "max": percentile(1.0),
    }


# --- the stores: a fresh database and queue per run, removed afterwards -------------------------


@dataclass
class Stores:
    """Where this run keeps its data, and how to count and remove it."""

    embedded: bool
    var_dir: Path
    database_url: str
    broker_url: str
    queue: str
    database_name: str = ""

    def env(self, secret: str) -> dict[str, str]:
        """The DIGEST_* settings of the server process."""
        return {
            "DIGEST_VAR_DIR": str(self.var_dir),
            "DIGEST_DATABASE_URL": self.database_url,
            "DIGEST_BROKER_URL": "" if self.embedded else self.broker_url,
            "DIGEST_QUEUE": self.queue,
            "DIGEST_SECRET_KEY": secret,
            "DIGEST_SUBSCRIBE_RATE": "1000000/minute",  # every request comes from 127.0.0.1
            "DIGEST_CHECK_DELIVERABILITY": "false",
        }


def create_stores(embedded: bool, scratch: Path) -> Stores:
    """A migrated fresh database (PostgreSQL, or SQLite when embedded) and a unique queue name."""
    from app.migrate import upgrade

    run_id = secrets.token_hex(4)
    var_dir = scratch / "var"
    queue = f"bench-subscribe-{run_id}"
    if embedded:
        url = f"sqlite:///{var_dir / 'digest.db'}"
        stores = Stores(True, var_dir, url, f"sqla+sqlite:///{var_dir / 'broker.db'}", queue)
    else:
        import psycopg

        name = f"bench_subscribe_{run_id}"
        with psycopg.connect(_libpq(f"{PG_SERVER}/postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        stores = Stores(False, var_dir, f"{PG_SERVER}/{name}", REDIS_URL, queue, name)
    upgrade(stores.database_url)
    return stores


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def count_stored(stores: Stores) -> tuple[int, int, int]:
    """Subscribers in the database, tasks waiting in the queue, and the confirmations they carry."""
    from sqlalchemy import create_engine, text

    engine = create_engine(stores.database_url)
    with engine.connect() as connection:
        subscribers = connection.scalar(text("SELECT count(*) FROM subscribers"))
    engine.dispose()
    if stores.embedded:
        broker = create_engine(stores.broker_url.removeprefix("sqla+"))
        with broker.connect() as connection:
            messages = list(connection.scalars(text("SELECT payload FROM kombu_message")))
        broker.dispose()
    else:
        import redis

        messages = redis.Redis.from_url(stores.broker_url).lrange(stores.queue, 0, -1)
    confirmations = sum(_confirmations_in(message) for message in messages)
    return int(subscribers or 0), len(messages), confirmations


def _confirmations_in(message: str | bytes) -> int:
    """Readers one queued kombu message asks to confirm (one per id of a batched task)."""
    envelope = json.loads(message)
    task = envelope.get("headers", {}).get("task")
    body = envelope["body"]
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]  # Celery message protocol 2: [args, kwargs, embed]
    return len(args[0]) if task == jobs.SEND_CONFIRMATIONS else 0


def remove_stores(stores: Stores) -> None:
    """Drop the database, purge the queue and the rate-limit counters of this run."""
    if stores.embedded:
        return  # both live in the scratch folder, removed by the caller
    import psycopg
    import redis

    with psycopg.connect(_libpq(f"{PG_SERVER}/postgres"), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{stores.database_name}" WITH (FORCE)')
    client = redis.Redis.from_url(stores.broker_url)
    # kombu names its exchange binding set either way, depending on the version.
    bindings = (f"_kombu.binding.{stores.queue}", f"_kombu.binding_permanent.{stores.queue}")
    client.delete(stores.queue, *bindings)
    # The limiter keeps one timestamp per hit for a minute: drop this run's counter, not others'.
    for key in client.scan_iter(match="*LIMITER/subscribe/127.0.0.1/1000000/1/minute"):
        client.delete(key)


# --- the run -------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, stores: Stores, log: Path) -> list[dict[str, Any]]:
    """Constant, subscribe, constant again, each against the same server process."""
    spawn = multiprocessing.get_context("spawn")
    port = free_port()
    env = stores.env(secrets.token_urlsafe(32))
    server = spawn.Process(target=serve, args=(port, env, str(log)))
    server.start()
    try:
        wait_until_listening(port, server)
        results = []
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as client:
            for number, path in enumerate((CONSTANT_PATH, SUBSCRIBE_PATH, CONSTANT_PATH)):
                phase = Phase(
                    port,
                    path,
                    args.connections,
                    args.warmup,
                    args.seconds,
                    first_address=number * args.max_requests,
                    max_requests=args.max_requests,
                )
                cpu_before = cpu_seconds(server.pid)
                result = client.submit(run_phase, phase).result()
                # Warm-up included on both sides: server CPU per request sent in the whole phase.
                cpu = cpu_seconds(server.pid) - cpu_before
                result["cpu_ms"] = cpu * 1000 / max(1, result["issued"])
                results.append(result)
                if not server.is_alive():
                    raise RuntimeError(f"the server process died (code {server.exitcode})")
        return results
    finally:
        server.terminate()
        server.join(10)
        if server.is_alive():
            server.kill()
            server.join()


def report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    stored: tuple[int, int, int],
    errors_logged: list[str],
) -> int:
    """Print the summary line and the details; the exit code (1 when over 1 % errors)."""
    first, sub, second = results
    constant = (first["rps"] + second["rps"]) / 2
    ratio = sub["rps"] / constant if constant else 0.0
    print(
        f"subscribe {sub['rps']:,.0f} req/s (p50 {sub['p50']:.0f} ms, p99 {sub['p99']:.0f} ms) "
        f"vs constant {constant:,.0f} req/s -> {ratio:.0%} "
        f"(target >= {TARGET_RATIO:.0%}, p99 < {TARGET_P99_MS:.0f} ms)".replace("%", " %")
    )
    mode = "SQLite WAL + embedded SQLAlchemy broker" if args.embedded else "PostgreSQL + Redis"
    print(
        f"  mode: {mode}; {args.connections} connections, {args.warmup:g} s warm-up + "
        f"{args.seconds:g} s per run; uvicorn 1 worker, httptools"
    )
    for label, result in (("constant #1", first), ("subscribe", sub), ("constant #2", second)):
        print(
            f"  {label:<12} {result['rps']:>8,.0f} req/s  p50 {result['p50']:6.1f}  "
            f"p90 {result['p90']:6.1f}  p99 {result['p99']:6.1f}  max {result['max']:6.1f} ms  "
            f"server CPU {result['cpu_ms']:.2f} ms/req  "
            f"answers {result['answered']:,}  errors {result['errors']:,} {result['statuses']}"
            + (f" {result['failures']}" if result["failures"] else "")
        )
    drift = abs(first["rps"] - second["rps"]) / constant if constant else 0.0
    # Server CPU per request barely moves when other processes steal cores: a steadier cross-check.
    cpu_ratio = (first["cpu_ms"] + second["cpu_ms"]) / 2 / sub["cpu_ms"] if sub["cpu_ms"] else 0.0
    print(
        f"  noise: the two constant runs differ by {drift:.1%}; by server CPU per request "
        f"subscribe costs {1 / cpu_ratio if cpu_ratio else float('nan'):.1f}x the constant "
        f"(ratio {cpu_ratio:.0%} if the server alone were the limit)"
    )
    subscribers, queued, confirmations = stored
    print(
        f"  stored: {subscribers:,} subscribers and {confirmations:,} confirmations queued in "
        f"{queued:,} tasks for {sub['ok_total']:,} accepted subscribe requests (warm-up included)"
    )
    if subscribers != sub["ok_total"] or confirmations != sub["ok_total"]:
        print("  WARNING: stored rows or queued confirmations do not match the accepted requests")
    for line in errors_logged:
        print(f"  server logged: {line}")
    verdict = "meets" if ratio >= TARGET_RATIO and sub["p99"] < TARGET_P99_MS else "misses"
    print(f"  verdict: {verdict} the targets")
    worst = max(r["errors"] / max(1, r["answered"] + sum(r["failures"].values())) for r in results)
    if worst > MAX_ERROR_SHARE:
        print(f"  ERROR: {worst:.1%} of requests failed in one run (limit {MAX_ERROR_SHARE:.0%})")
        return 1
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; bad values exit with a clear message."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--max-requests", type=int, default=500_000, help="cap per run")
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite (WAL) + embedded broker, not PG + Redis"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 1000:
        parser.error("--connections must be between 1 and 1000")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be in (0, 600] and --warmup in [0, 60]")
    if args.max_requests < 1:
        parser.error("--max-requests must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Set up the stores, measure the three runs, print the figures, clean up."""
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-subscribe-"))
    stores = None
    try:
        stores = create_stores(args.embedded, scratch)
        log = scratch / "server.log"
        results = measure(args, stores, log)
        return report(args, results, count_stored(stores), server_errors(log))
    finally:
        if stores is not None:
            remove_stores(stores)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
