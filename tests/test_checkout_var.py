"""The guard against tests writing into the checkout's var/ (tests/checkout_var.py) catches it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.checkout_var import GUARDED, changes, snapshot

ROOT = Path(__file__).resolve().parent.parent
LEAKY = """
import os
from pathlib import Path

def test_queues_a_task_in_var():
    folder = Path(os.environ["DIGEST_TESTS_GUARDED_VAR"])
    folder.mkdir(exist_ok=True)
    (folder / "broker.db").write_bytes(b"a queued task")

def test_writes_elsewhere(tmp_path):
    (tmp_path / "broker.db").write_bytes(b"fine")
"""


def test_the_guard_watches_this_checkouts_var():
    assert GUARDED == ROOT / "var"


def test_changes_name_added_changed_and_removed_files(tmp_path):
    (tmp_path / "kept").write_text("1")
    (tmp_path / "edited").write_text("1")
    (tmp_path / "gone").write_text("1")
    before = snapshot(tmp_path)
    (tmp_path / "edited").write_text("22")
    (tmp_path / "gone").unlink()
    (tmp_path / "broker.db").write_text("task")
    assert changes(before, snapshot(tmp_path)) == [
        "added broker.db",
        "removed gone",
        "changed edited",
    ]
    assert changes(before, before) == []
    assert snapshot(tmp_path / "missing") == {}


def test_a_run_that_writes_into_var_fails_and_names_the_test(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this project's options (-n 2)
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    guarded = tmp_path / "checkout-var"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DIGEST_TESTS_GUARDED_VAR": str(guarded),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.checkout_var", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed, 1 error" in run.stdout, run.stdout  # its teardown fails
    assert "ERROR test_leaky.py::test_queues_a_task_in_var" in run.stdout
    assert f"wrote into the checkout's {guarded}/: added broker.db" in run.stdout
    assert "FAILED: the tests wrote into the checkout's" in run.stdout  # the session check
