"""Send benchmark (SPEC §11): the engine's msgs/s against a bare smtplib loop, and worker RSS.

N confirmed readers in a fresh PostgreSQL database, Redis as broker, `--workers` real Celery
worker processes, a minimal asyncio SMTP sink (aiosmtpd would be the bottleneck). In the same
run, the raw limit: the same finished bytes sent by a bare smtplib loop, one connection per
process, as many processes. With --scale the engine runs again at 10×N to compare peak RSS.

With --segments K (issue 13) the readers are spread over K different section choices, so the
send renders K messages and every batch fills copies of several; the engine runs twice in the
same run, with one segment and with K, and prints the ratio (target >= 90%) and both RSS
figures. It also times the weekly draft with personal rankings: a synthetic week of 10,000 posts
ranked once with its section extras, the K segments of 100,000 readers planned, and their K
messages compiled and encoded (target < 10 s).

    .venv/bin/python bench/send.py [--n 10000] [--workers 1] [--scale] [--segments 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, insert, select, text  # noqa: E402

from app import clock  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import make_engine, session_scope, set_publisher  # noqa: E402
from app.delivery.control import progress  # noqa: E402
from app.delivery.engine import start_send  # noqa: E402
from app.issues.drafts import draft_issue  # noqa: E402
from app.issues.mail import prepare_variant_message  # noqa: E402
from app.issues.segments import plan_segments  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Issue, Post  # noqa: E402
from app.readers.links import reader_links  # noqa: E402
from app.tokens import Signer  # noqa: E402
from app.weeks import week_window  # noqa: E402
from emails.compose import MessageTemplate  # noqa: E402
from tests.conftest import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.processes import free_port, publisher_for, purge_queue, service_env  # noqa: E402

BROKER = "redis://127.0.0.1:6379/8"
SENDER = "Weekly Digest <digest@news.example.org>"


# --- a sink that only answers ------------------------------------------------------------------


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            await reader.readuntil(b"\r\n.\r\n")
            writer.write(b"250 2.0.0 queued\r\n")
        elif verb == b"EHLO":
            writer.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            break
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()
    writer.close()


def run_sink(port: int) -> None:
    """Serve the sink forever on 127.0.0.1:port (run in its own process)."""

    async def main() -> None:
        server = await asyncio.start_server(_session, "127.0.0.1", port, limit=2**24)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the raw limit -----------------------------------------------------------------------------


def raw_loop(port: int, message: bytes, count: int) -> None:
    """Send `message` `count` times over one smtplib connection."""
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            smtp.sendmail("digest@news.example.org", [f"r{n}@example.org"], message)


def raw_rate(port: int, message: bytes, total: int, processes: int) -> float:
    """msgs/s of `processes` bare smtplib loops sending `total` messages between them."""
    share = total // processes
    jobs = [
        multiprocessing.Process(target=raw_loop, args=(port, message, share))
        for _ in range(processes)
    ]
    started = time.perf_counter()
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    return share * processes / (time.perf_counter() - started)


# --- the engine --------------------------------------------------------------------------------


def selections(count: int) -> list[str]:
    """`count` different section choices of the default sections: everything first, then
    single sections, pairs, triples… (5 sections make 31 choices besides everything)."""
    keys = [section.key for section in Settings(_env_file=None).sections.all]
    choices = [""]
    for size in range(1, len(keys)):
        choices += [",".join(combo) for combo in itertools.combinations(keys, size)]
    if count > len(choices):
        raise SystemExit(f"--segments: at most {len(choices)} with the default sections")
    return choices[:count]


def add_readers(conn: Connection, readers: int, choices: list[str]) -> None:
    """Confirmed readers reader1@… readerN@… (one INSERT … SELECT), reader g with the section
    choice choices[g mod len]."""
    conn.execute(
        text(
            "INSERT INTO subscribers (email, status, source, created_at, updated_at,"
            " confirm_nonce, sections, cadence) SELECT 'reader' || g || '@example.org',"
            " 'confirmed', 'bench', now(), now(), 0,"
            " (CAST(:choices AS text[]))[1 + g % :k], 'weekly'"
            " FROM generate_series(1, :n) g"
        ),
        {"n": readers, "choices": choices, "k": len(choices)},
    )


def seed(url: str, readers: int, segments: int = 1) -> int:
    """N confirmed readers (one INSERT … SELECT) spread round-robin over `segments` section
    choices, and an issue of 10 posts plus, per section, 10 more that only its readers get;
    returns its id."""
    engine = make_engine(url)
    choices = selections(segments)
    with engine.begin() as conn:
        add_readers(conn, readers, choices)
        issue_id = conn.execute(
            text(
                "INSERT INTO issues (week, status, subject, intro, pins, drops, created_at,"
                " updated_at) VALUES ('2026-W48', 'draft', 'Your top 10 sustainability &"
                " energy posts', 'This week', '[]', '[]', now(), now()) RETURNING id"
            )
        ).scalar_one()
        for rank in range(1, 11):
            post_id = conn.execute(
                text(
                    "INSERT INTO posts (url, title, summary, source, topics, published_at,"
                    " views, likes, shares, comments, created_at, updated_at) VALUES"
                    " (:url, :title, :summary, 'Example News', '[\"energy\"]', now(),"
                    " 1000, 100, 10, 1, now(), now()) RETURNING id"
                ),
                {
                    "url": f"https://news.example.com/post/{rank}",
                    "title": f"Grid-scale batteries, part {rank}: what the numbers say",
                    "summary": "A two-line summary of a post about storage and the grid. " * 3,
                },
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO issue_items (issue_id, post_id, rank, score, reasons, clicks,"
                    " sections, overall) VALUES (:i, :p, :r, 1.0, '{}', 0, :s, :o)"
                ),
                {"i": issue_id, "p": post_id, "r": rank, "s": "grid-power", "o": True},
            )
        for number, key in enumerate(selections(6)[1:]):  # each single section's own ten
            for n in range(10):
                post_id = conn.execute(
                    text(
                        "INSERT INTO posts (url, title, summary, source, topics, published_at,"
                        " views, likes, shares, comments, created_at, updated_at) VALUES"
                        " (:url, :title, :summary, :source, '[\"energy\"]', now(),"
                        " 1000, 100, 10, 1, now(), now()) RETURNING id"
                    ),
                    {
                        "url": f"https://news.example.com/{key}/{n}",
                        "title": f"{key.title()} story {n}: what the numbers say",
                        "summary": "A two-line summary of a post about one section. " * 3,
                        "source": f"Outlet {n % 4}",
                    },
                ).scalar_one()
                conn.execute(
                    text(
                        "INSERT INTO issue_items (issue_id, post_id, rank, score, reasons,"
                        " clicks, sections, overall) VALUES (:i, :p, :r, 0.9, '{}', 0, :s,"
                        " false)"
                    ),
                    {"i": issue_id, "p": post_id, "r": 11 + 10 * number + n, "s": key},
                )
    engine.dispose()
    return issue_id


def peak_rss_kib(pids: list[int]) -> int:
    """The largest VmHWM among the processes (KiB)."""
    peaks = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return max(peaks, default=0)


def start_workers(settings: Settings, count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    for n in range(count):
        log = (logs / f"worker{n}.log").open("ab")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            settings.queue,
            "-n",
            f"bench{n}-{uuid.uuid4().hex[:6]}@%h",
        ]
        workers.append(
            subprocess.Popen(
                command, cwd=ROOT, env=service_env(settings), stdout=log, stderr=subprocess.STDOUT
            )
        )
    time.sleep(4)  # let them connect before the clock starts
    return workers


def engine_run(
    readers: int, workers: int, port: int, batch_size: int, segments: int = 1
) -> dict[str, float]:
    """Send an issue to `readers` through real workers; rate, peak RSS and one finished message."""
    url = create_postgres_database(f"bench{readers}s{segments}")
    upgrade(url)
    logs = Path(tempfile.mkdtemp(prefix="bench-send-"))
    settings = Settings(
        var_dir=logs / "var",
        database_url=url,
        broker_url=BROKER,
        queue=f"bench-{uuid.uuid4().hex[:8]}",
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key=["bench-secret-key-0123456789abcdef"],
        base_url="https://digest.example.org",
        DIGEST_FROM=SENDER,
        postal_address="1 Bench Street",
        batch_size=batch_size,
    )
    issue_id = seed(url, readers, segments)
    _celery, publish = publisher_for(settings)
    set_publisher(publish)
    processes = start_workers(settings, workers, logs)
    try:
        started = time.perf_counter()
        with session_scope(url) as session:
            start_send(session, issue_id=issue_id, now=clock.now(), settings=settings)
        while True:
            with session_scope(url) as session:
                state = progress(session, issue_id)
            if state["status"] != "sending":
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        rss = peak_rss_kib([process.pid for process in processes])
        with session_scope(url) as session:
            stored = session.scalar(select(Issue.message_template).where(Issue.id == issue_id))
            window = session.execute(
                text("SELECT extract(epoch FROM max(sent_at) - min(sent_at)) FROM deliveries")
            ).scalar_one()
        # One reader's real copy (real token, real Message-ID): the raw loop sends these bytes.
        links = reader_links("https://digest.example.org", Signer(settings.signing_keys()), readers)
        message = MessageTemplate.loads(stored).fill(
            to=f"reader{readers}@example.org",
            message_id=f"<digest.{issue_id}.{readers}@news.example.org>",
            unsubscribe_url=links.unsubscribe,
            manage_url=links.manage,
        )
        return {
            "rate": state["sent"] / elapsed,
            "delivery_rate": state["sent"] / max(window, 1e-9),
            "sent": state["sent"],
            "total": state["total"],
            "rss": rss,
            "message": message,
            "elapsed": elapsed,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        set_publisher(None)
        purge_queue(settings)
        drop_postgres_database(url)


def draft_run(readers: int, segments: int) -> dict[str, float]:
    """The weekly draft with personal rankings, timed in its steps on PostgreSQL: rank a
    synthetic 10,000-post week once with its section extras (`draft_issue`), plan the
    segments of `readers` readers, and compile and encode each segment's message."""
    from bench.rank import WEEK, post_rows, synthetic_week

    url = create_postgres_database(f"benchdraft{readers}")
    upgrade(url)
    logs = Path(tempfile.mkdtemp(prefix="bench-draft-"))
    settings = Settings(
        _env_file=None,
        var_dir=logs / "var",
        database_url=url,
        secret_key=["bench-secret-key-0123456789abcdef"],
        base_url="https://digest.example.org",
        postal_address="1 Bench Street",
    )
    try:
        engine = make_engine(url)
        now = week_window(WEEK)[1] + timedelta(hours=6)
        choices = selections(segments)
        with engine.begin() as conn:
            conn.execute(insert(Post), post_rows(synthetic_week(10_000), now=now))
            add_readers(conn, readers, choices)
        signer = Signer(settings.signing_keys())
        timings: dict[str, float] = {}
        with session_scope(url) as session:
            started = time.perf_counter()
            issue = draft_issue(session, week=WEEK, now=now, settings=settings)
            timings["rank"] = time.perf_counter() - started
            started = time.perf_counter()
            planned = plan_segments(session, issue, settings=settings, now=now)
            timings["plan"] = time.perf_counter() - started
            started = time.perf_counter()
            for segment in planned:
                prepare_variant_message(
                    session, issue, segment.variant, settings=settings, signer=signer, now=now
                ).dumps()
            timings["render"] = time.perf_counter() - started
            timings["segments"] = len(planned)
            timings["readers"] = sum(segment.readers for segment in planned)
            timings["short"] = sum(
                segment.variant.from_sections < len(segment.variant.items)
                for segment in planned
                if segment.variant.sections
            )
        engine.dispose()
        return timings
    finally:
        drop_postgres_database(url)


def main() -> None:
    """Run the engine and the raw loop on the same sink and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="confirmed readers")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--scale", action="store_true", help="also run at 10×N for peak RSS")
    parser.add_argument(
        "--segments", type=int, default=0, help="also send with readers in K section choices"
    )
    args = parser.parse_args()
    if args.segments:
        segments_main(args)
        return

    port = free_port()
    sink = multiprocessing.Process(target=run_sink, args=(port,), daemon=True)
    sink.start()
    time.sleep(0.5)
    try:
        run = engine_run(args.n, args.workers, port, args.batch_size)
        raw = raw_rate(port, run["message"], args.n, args.workers)
        scaled = (
            engine_run(args.n * 10, args.workers, port, args.batch_size) if args.scale else None
        )
    finally:
        sink.terminate()
    ratio = run["rate"] / raw
    rss_line = f"worker VmHWM {run['rss'] / 1024:.1f} MiB at N={args.n}"
    if scaled:
        rss_line += f", {scaled['rss'] / 1024:.1f} MiB at N={args.n * 10}"
    print(
        f"send: {run['rate']:.0f} msg/s vs raw smtplib {raw:.0f} msg/s = {ratio:.0%} "
        f"(target >= 60%); {rss_line}"
    )
    size = len(run["message"])
    print(f"  N={args.n} workers={args.workers} batch={args.batch_size} message={size} B")
    print(
        f"  engine: {run['sent']}/{run['total']} sent in {run['elapsed']:.1f} s (Send to done); "
        f"{run['delivery_rate']:.0f} msg/s between first and last delivery"
    )
    if scaled:
        print(
            f"  at 10×N: {scaled['rate']:.0f} msg/s, {scaled['sent']}/{scaled['total']} sent, "
            f"ratio {scaled['rate'] / raw:.0%} of the raw rate at N"
        )


def segments_main(args: argparse.Namespace) -> None:
    """One segment against K in the same run, then the draft with personal rankings."""
    port = free_port()
    sink = multiprocessing.Process(target=run_sink, args=(port,), daemon=True)
    sink.start()
    time.sleep(0.5)
    try:
        one = engine_run(args.n, args.workers, port, args.batch_size, 1)
        many = engine_run(args.n, args.workers, port, args.batch_size, args.segments)
        again = engine_run(args.n, args.workers, port, args.batch_size, 1)
    finally:
        sink.terminate()
    single = (one["rate"] + again["rate"]) / 2  # before and after: the machine drifts
    ratio = many["rate"] / single
    print(
        f"send with {args.segments} segments: {many['rate']:.0f} msg/s vs one segment "
        f"{one['rate']:.0f}/{again['rate']:.0f} msg/s (before/after) = {ratio:.0%} "
        f"(target >= 90%)"
    )
    print(
        f"  worker VmHWM {one['rss'] / 1024:.1f} MiB with one segment, "
        f"{many['rss'] / 1024:.1f} MiB with {args.segments}; N={args.n} workers={args.workers} "
        f"batch={args.batch_size}; {many['sent']}/{many['total']} sent"
    )
    draft = draft_run(100_000, args.segments)
    total = draft["rank"] + draft["plan"] + draft["render"]
    print(
        f"draft with personal rankings: {total:.1f} s (target < 10 s) for 10,000 posts and "
        f"{draft['readers']:,.0f} readers in {draft['segments']:.0f} segments: rank once "
        f"{draft['rank']:.1f} s, plan segments {draft['plan']:.2f} s, render "
        f"{draft['segments']:.0f} messages {draft['render']:.1f} s; "
        f"{draft['short']:.0f} section lists filled from the overall top"
    )


if __name__ == "__main__":
    main()
