"""The `digest` command: every command's bad arguments get a clear error and change nothing."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app import clock
from app.cli import COMMANDS, main
from app.config import Settings, get_settings
from app.db import session_factory, session_scope
from app.delivery.console import send_with_progress
from app.delivery.control import cancel
from app.delivery.engine import send_batch
from app.delivery.outbox import OutboxTransport
from app.issues.drafts import draft_issue
from app.migrate import upgrade
from tests.test_sending import add_readers, make_issue

DEMO_POSTS = Path(__file__).parent.parent / "app" / "demo" / "posts.json"
EVERY_COMMAND = {
    "admin",
    "api",
    "beat",
    "bounces",
    "ingest",
    "migrate",
    "rank",
    "send",
    "serve",
    "sources",
    "subscribers",
    "worker",
}


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke `digest` in an empty folder with embedded defaults."""
    for name in list(__import__("os").environ):
        if name.startswith("DIGEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        get_settings.cache_clear()
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    invoke("migrate")
    yield invoke
    get_settings.cache_clear()


def test_ingest_rank_and_their_bad_arguments(run, tmp_path):
    shipped = len(json.loads(DEMO_POSTS.read_text(encoding="utf-8")))
    assert f"created {shipped}" in run("ingest", str(DEMO_POSTS)).output
    again = run("ingest", str(DEMO_POSTS))
    assert "created 0" in again.output and f"unchanged {shipped}" in again.output

    missing = run("ingest", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "no such file" in missing.output
    (tmp_path / "broken.json").write_text("[{")
    broken = run("ingest", str(tmp_path / "broken.json"))
    assert broken.exit_code == 1 and "not valid JSON" in broken.output
    (tmp_path / "bad.json").write_text(json.dumps([{"url": "javascript:alert(1)", "title": "x"}]))
    bad = run("ingest", str(tmp_path / "bad.json"))
    assert bad.exit_code == 1 and "nothing was stored" in bad.output

    table = run("rank", "--week", "2026-W47")
    assert table.exit_code == 0
    assert "2026-W47: 10 posts listed" in table.output and "off-topic" in table.output
    for week in ("2026-W54", "banana", "2026-W00"):
        refused = run("rank", "--week", week)
        assert refused.exit_code == 2 and "Invalid value for --week" in refused.output


def test_subscriber_import_export_and_bad_files(run, tmp_path):
    (tmp_path / "in.csv").write_text("email,name\nok@example.org,Ok\nnot-an-address,Bad\n")
    imported = run("subscribers", "import", str(tmp_path / "in.csv"), "--consent-source", "fair")
    assert "created 1" in imported.output and "line 3" in imported.output
    exported = run("subscribers", "export")
    assert exported.output.splitlines()[1].startswith("ok@example.org,Ok,confirmed,import:fair")

    (tmp_path / "nohead.csv").write_text("ok2@example.org\n")
    no_header = run("subscribers", "import", str(tmp_path / "nohead.csv"), "--consent-source", "x")
    assert no_header.exit_code == 1 and "'email' column" in no_header.output
    (tmp_path / "latin1.csv").write_bytes("email,name\nj@example.org,J\xfcrgen\n".encode("latin-1"))
    latin = run("subscribers", "import", str(tmp_path / "latin1.csv"), "--consent-source", "x")
    assert latin.exit_code == 1 and "not UTF-8" in latin.output
    no_source = run("subscribers", "import", str(tmp_path / "in.csv"))
    assert no_source.exit_code == 2 and "--consent-source" in no_source.output
    assert run("subscribers", "export", "--status", "weird").exit_code == 2


def test_send_unknown_issue_and_admin_create(run):
    unknown = run("send", "999")
    assert unknown.exit_code == 1 and "999" in unknown.output
    assert run("send", "one").exit_code == 2
    short = run("admin", "create", "ed@example.org", input="short\n")
    assert short.exit_code == 1 and "password" in short.output.lower()
    created = run("admin", "create", "ed@example.org", input="a-long-enough-password\n")
    assert created.exit_code == 0, created.output
    bad_email = run("admin", "create", "not-an-email", input="a-long-enough-password\n")
    assert bad_email.exit_code == 1


@pytest.mark.parametrize("command", ["api", "worker", "beat"])
@pytest.mark.parametrize("secret", [None, "change-me", "short"])
def test_production_processes_refuse_unsafe_secrets(run, monkeypatch, command, secret):
    if secret is not None:
        monkeypatch.setenv("DIGEST_SECRET_KEY", secret)
    refused = run(command)
    assert refused.exit_code == 1
    assert "Refusing to start in production mode" in refused.output
    assert "DIGEST_SECRET_KEY" in refused.output


def test_serve_rejects_a_bad_port(run):
    assert run("serve", "--port", "70000").exit_code == 2


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("DIGEST_SCHEDULE", "61 6 * * mon", "not a valid cron line"),
        ("DIGEST_SCHEDULE", "0 6 * *", "five cron fields"),
        ("DIGEST_SMTP_URL", "smtpz://mail.example.org", "scheme must be smtp"),
        ("DIGEST_SMTP_URL", "smtp://mail.example.org:99999", "port"),
        ("DIGEST_MAX_PER_SOURCE", "three", "integer"),
    ],
)
def test_bad_settings_stop_every_command_with_the_variable_named(
    run, monkeypatch, name, value, reason
):
    monkeypatch.setenv(name, value)
    refused = run("rank")
    assert refused.exit_code == 1
    assert name in refused.output and reason in refused.output


def test_production_warnings_name_http_links_and_a_missing_postal_address(run, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "a-long-enough-production-secret")
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:///:memory:")
    from app.config import get_settings

    get_settings.cache_clear()
    warnings = get_settings().production_warnings()
    assert any("https" in w for w in warnings) and any("POSTAL" in w for w in warnings)
    monkeypatch.setenv("DIGEST_BASE_URL", "https://news.example.org")
    monkeypatch.setenv("DIGEST_POSTAL_ADDRESS", "1 Main St, Springfield")
    get_settings.cache_clear()
    assert get_settings().production_warnings() == []


def modules_left_by(code: str, modules: list[str]) -> dict[str, bool]:
    """Run `code` in a fresh interpreter; which of `modules` are in its sys.modules after."""
    report = f"import json, sys\nprint(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_the_worker_command_loads_neither_the_web_app_nor_the_ranking():
    resolve = (
        "import click\n"
        "from app.cli import main\n"
        "with click.Context(main) as ctx:\n"
        "    assert main.get_command(ctx, 'worker').name == 'worker'"
    )
    loaded = modules_left_by(
        resolve, ["sklearn", "app.web", "app.ranking.score", "workers.celery_app"]
    )
    assert loaded == {
        "sklearn": False,
        "app.web": False,
        "app.ranking.score": False,
        "workers.celery_app": True,  # the worker's own module was loaded: it did resolve
    }


def test_help_lists_the_commands_without_importing_them():
    modules = sorted({f"app.cli.{lazy.target.split(':')[0]}" for lazy in COMMANDS.values()})
    loaded = modules_left_by(
        "from app.cli import main\nmain(['--help'], standalone_mode=False)",
        [*modules, "sklearn", "app.config"],
    )
    assert not any(loaded.values()), loaded


def test_digest_help_lists_every_command_with_its_one_line_help():
    digest = Path(sys.executable).parent / "digest"
    listed = subprocess.run(
        [str(digest), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout
    rows = dict(line.split(maxsplit=1) for line in listed.split("Commands:\n")[1].splitlines())
    assert set(rows) == EVERY_COMMAND
    with click.Context(main) as ctx:
        for name, shown in rows.items():
            docstring = main.get_command(ctx, name).help
            assert COMMANDS[name].help == docstring, f"the table's help of {name} is stale"
            assert docstring.startswith(shown.removesuffix("...")), name


# `digest send`: asked first, `--yes` for scripts, `--dry-run` changes nothing, refusals are one
# line on stderr with a non-zero exit.
READERS_CSV = "email,name\na@example.org,A\nb@example.org,B\nc@example.org,C\n"


def _draft(week: str) -> int:
    """The draft of `week` in the `run` fixture's database, as the admin would make it."""
    settings = get_settings()
    with session_scope(settings.sqlalchemy_url) as session:
        return draft_issue(session, week=week, now=clock.now(), settings=settings).id


def _issue_state(tmp_path: Path, issue_id: int) -> tuple[str, int]:
    """The issue's status and how many deliveries it has, read straight from its SQLite file."""
    with sqlite3.connect(tmp_path / "var" / "digest.db") as db:
        (status,) = db.execute("select status from issues where id = ?", (issue_id,)).fetchone()
        query = "select count(*) from deliveries where issue_id = ?"
        (rows,) = db.execute(query, (issue_id,)).fetchone()
    return status, rows


@pytest.fixture
def issues(run, tmp_path):
    """Demo posts, three confirmed readers; the draft of a full week and of an empty one."""
    assert run("ingest", str(DEMO_POSTS)).exit_code == 0
    (tmp_path / "readers.csv").write_text(READERS_CSV)
    assert (
        "created 3" in run("subscribers", "import", "readers.csv", "--consent-source", "t").output
    )
    return {"full": _draft("2026-W47"), "empty": _draft("2026-W30")}


def test_send_dry_run_tells_everything_and_changes_nothing(run, issues, tmp_path):
    full = issues["full"]
    dry = run("send", str(full), "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = [line.split(maxsplit=1) for line in dry.stdout.splitlines()[1:-1]]
    shown = {line[0]: line[1] for line in lines}
    assert shown["issue"] == f"{full} (2026-W47, draft), 10 posts"
    assert shown["subject"].startswith("Your top 10") and "week 47, 2026" in shown["subject"]
    assert shown["from"] == "Weekly Digest <digest@localhost>"
    assert shown["readers"] == "3 confirmed"
    assert shown["batches"] == "1 of up to 200 readers"
    assert shown["into"] == f"{(tmp_path / 'var' / 'outbox').resolve()}/ (no DIGEST_SMTP_URL)"
    assert dry.stdout.splitlines()[-1] == "Nothing was sent or changed."
    assert _issue_state(tmp_path, full) == ("draft", 0)
    assert not (tmp_path / "var" / "broker.db").exists()  # no task was queued either


def test_send_refusals_are_one_line_on_stderr(run, issues, tmp_path, monkeypatch):
    empty, full = issues["empty"], issues["full"]
    for args in ([], ["--yes"], ["--dry-run"]):
        refused = run("send", str(empty), *args)
        assert refused.exit_code == 1 and refused.stdout == ""
        assert (
            refused.stderr == f"Error: issue {empty} (2026-W30) lists no posts: nothing to send\n"
        )
    missing = run("send", "999", "--yes")
    assert (missing.exit_code, missing.stderr) == (1, "Error: there is no issue 999\n")

    unasked = run("send", str(full), input="y\n")  # CliRunner's stdin is not a terminal
    assert unasked.exit_code == 1 and unasked.stdout == ""
    assert unasked.stderr.count("\n") == 1 and "pass --yes" in unasked.stderr
    assert _issue_state(tmp_path, full) == ("draft", 0)

    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    down = run("send", str(full), "--yes")
    assert down.exit_code == 1 and down.stderr.count("\n") == 1
    assert down.stderr.startswith("Error: the database postgresql+psycopg://nobody@127.0.0.1:1")
    assert "Connection refused" in down.stderr


def test_send_yes_starts_without_asking_and_sent_or_cancelled_issues_are_refused(
    run, issues, tmp_path
):
    nobody = _draft("2026-W46")  # no readers yet: a send with nobody to mail is sent at once
    with sqlite3.connect(tmp_path / "var" / "digest.db") as db:
        db.execute("update subscribers set status = 'unsubscribed'")
    assert run("send", str(nobody), "--yes").exit_code == 0
    assert _issue_state(tmp_path, nobody) == ("sent", 0)
    again = run("send", str(nobody), "--yes")
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr.startswith(f"Error: issue {nobody} (2026-W46) was already sent on ")
    assert again.stderr.count("\n") == 1
    with sqlite3.connect(tmp_path / "var" / "digest.db") as db:
        db.execute("update subscribers set status = 'confirmed'")

    full = issues["full"]
    started = run("send", str(full), "--yes", "--timeout", "0.3")  # no worker: stop watching
    assert started.exit_code == 0, started.output
    assert f"Issue {full}: started, 3 readers" in started.stdout and "?" not in started.stdout
    assert _issue_state(tmp_path, full) == ("sending", 3)
    watched = run("send", str(full), "--timeout", "0.3")  # running: nothing to ask
    assert watched.exit_code == 0 and f"Issue {full} is already sending" in watched.stdout

    settings = get_settings()
    with session_scope(settings.sqlalchemy_url) as session:
        assert cancel(session, issue_id=full, now=clock.now())
    cancelled = run("send", str(full), "--yes")
    assert cancelled.exit_code == 1
    assert cancelled.stderr == f"Error: issue {full} is cancelled; only a draft can be sent\n"


def _answer_at_a_terminal(tmp_path: Path, issue_id: int, answer: bytes) -> tuple[int, str]:
    """Run `digest send` on a pseudo-terminal, answer its question; its exit code and output."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_VAR_DIR"] = str(tmp_path / "var")
    digest = Path(sys.executable).parent / "digest"
    process = subprocess.Popen(
        [str(digest), "send", str(issue_id), "--timeout", "0.3"],
        cwd=tmp_path,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([leader], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            os.write(leader, answer)
            answered = True
    os.close(leader)
    return process.wait(timeout=30), output.decode().replace("\r\n", "\n")


@pytest.mark.parametrize(("answer", "meaning"), [(b"n\n", "no"), (b"\x04", "end of input")])
def test_send_asks_and_anything_but_yes_sends_nothing(run, issues, tmp_path, answer, meaning):
    full = issues["full"]
    code, output = _answer_at_a_terminal(tmp_path, full, answer)
    assert f"Send issue {full} (2026-W47, 10 posts) to 3 readers? [y/N]" in output, meaning
    assert code == 1 and output.rstrip().endswith("Not sent."), output
    assert _issue_state(tmp_path, full) == ("draft", 0)


def test_send_asks_and_yes_starts_the_send(run, issues, tmp_path):
    full = issues["full"]
    code, output = _answer_at_a_terminal(tmp_path, full, b"y\n")
    assert code == 0, output
    assert f"Issue {full}: started, 3 readers" in output
    assert _issue_state(tmp_path, full) == ("sending", 3)


def test_send_progress_says_how_far_a_cancelled_send_got_and_how_to_send_the_rest(
    tmp_path, published
):
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'digest.db'}",
        secret_key=["cli-secret-key-0123456789abcdef"],
        postal_address="Weekly Digest, 1 Test Street, 10115 Berlin, Germany",
        batch_size=10,
    )
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        add_readers(session, 30)
        issue_id = make_issue(session).id
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        if len(lines) == 1:  # the send has started: a worker sends batch 0, an editor cancels
            send_batch(
                session_factory(settings.database_url),
                issue_id=issue_id,
                batch=0,
                settings=settings,
                transport=OutboxTransport(settings.outbox_dir),
            )
            with session_scope(settings.database_url) as session:
                cancel(session, issue_id=issue_id, now=clock.now())

    state = send_with_progress(issue_id, settings=settings, echo=echo, every=0.05, timeout=10)
    assert (state["status"], state["sent"], state["cancelled"]) == ("cancelled", 10, 20)
    assert lines == [
        f"Issue {issue_id}: started, 30 readers",
        "Cancelled after 10 of 30 — 20 not sent",
        f"Send to the rest on http://127.0.0.1:8000/admin/issues/{issue_id}/progress "
        f"or with POST /api/issues/{issue_id}/send-remaining",
        f"Issue {issue_id} cancelled: total 30, sent 10, failed 0, bounced 0, unknown 0, "
        "skipped 0, pending 0, cancelled 20",
    ]
