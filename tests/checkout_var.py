"""A pytest plugin that fails the run when a test leaves anything in the checkout's `var/`.

`var/` is where `digest serve` keeps the database, the broker's queue and the demo login; a
test that writes there (a subprocess or CLI call that missed the scratch DIGEST_VAR_DIR) leaves
tasks that the next `digest serve` runs. Each test is checked as it ends, so the report names
it; the whole session is checked again at its end (in the controller under xdist, after every
worker), which catches what a background process wrote late.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Overridable only so this plugin's own test can point it at a scratch folder.
GUARDED = Path(
    os.environ.get("DIGEST_TESTS_GUARDED_VAR", Path(__file__).resolve().parent.parent / "var")
)

Snapshot = dict[str, tuple[int, int]]
_AT_START = pytest.StashKey[Snapshot]()


def snapshot(folder: Path) -> Snapshot:
    """Every file under `folder` with its size and modification time (nanoseconds)."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.rglob("*"):
        try:
            info = path.lstat()
        except FileNotFoundError:  # removed while we looked: its absence shows in `changes`
            continue
        found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs, one entry a file: "added x", "changed x", "removed x"."""
    found = [f"added {name}" for name in sorted(after.keys() - before.keys())]
    found += [f"removed {name}" for name in sorted(before.keys() - after.keys())]
    found += [
        f"changed {name}"
        for name in sorted(before.keys() & after.keys())
        if before[name] != after[name]
    ]
    return found


def _message(found: list[str]) -> str:
    return f"the tests wrote into the checkout's {GUARDED}/: {', '.join(found)}"


@pytest.fixture(autouse=True)
def _checkout_var_untouched() -> Iterator[None]:
    before = snapshot(GUARDED)
    yield
    found = changes(before, snapshot(GUARDED))
    if found:
        pytest.fail(_message(found), pytrace=False)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_AT_START] = snapshot(GUARDED)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks
        return
    found = changes(session.config.stash[_AT_START], snapshot(GUARDED))
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: {_message(found)}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
