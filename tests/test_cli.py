"""The `digest` command: every command's bad arguments get a clear error and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app.cli import COMMANDS, main
from app.config import get_settings

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
