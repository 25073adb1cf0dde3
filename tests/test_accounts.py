"""Admin accounts: argon2 hashes, login checks, rehashing, the demo admin."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from app.accounts import (
    DEMO_EMAIL,
    AccountError,
    _dummy_hash,
    authenticate,
    create_admin,
    ensure_demo_admin,
)
from tests.test_issues import NOW


def test_a_created_admin_logs_in_with_the_password_only(db):
    admin = create_admin(db, email="Ed@Example.org", password="long enough pass", now=NOW)
    assert admin.email == "ed@example.org" and admin.password_hash.startswith("$argon2id$")
    assert authenticate(db, email="ed@example.org", password="long enough pass", now=NOW) is admin
    assert admin.last_login_at == NOW
    assert authenticate(db, email="ed@example.org", password="long enough pas", now=NOW) is None
    assert authenticate(db, email="other@example.org", password="long enough pass", now=NOW) is None
    admin.is_active = False
    assert authenticate(db, email="ed@example.org", password="long enough pass", now=NOW) is None


@pytest.mark.parametrize(
    "email, password, needle",
    [
        ("not an address", "long enough pass", "not a usable address"),
        ("ed@example.org", "short", "at least 10"),
    ],
)
def test_bad_accounts_are_refused_with_the_reason(db, email, password, needle):
    with pytest.raises(AccountError, match=needle):
        create_admin(db, email=email, password=password, now=NOW)


def test_an_outdated_hash_is_replaced_at_login(db):
    admin = create_admin(db, email="ed@example.org", password="long enough pass", now=NOW)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("long enough pass")
    admin.password_hash = weak
    assert authenticate(db, email="ed@example.org", password="long enough pass", now=NOW)
    assert admin.password_hash != weak and "m=8192" not in admin.password_hash


def test_the_demo_admin_keeps_one_password_in_a_private_file(db, tmp_path):
    email, password = ensure_demo_admin(db, now=NOW, var_dir=tmp_path)
    again = ensure_demo_admin(db, now=NOW, var_dir=tmp_path)
    assert (email, password) == again and email == DEMO_EMAIL and len(password) >= 12
    path = tmp_path / "demo-admin.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert authenticate(db, email=email, password=password, now=NOW) is not None


def test_importing_accounts_hashes_nothing():
    # The dummy hash evens out login timing for unknown addresses; made at import, it cost every
    # process that imports the app (workers, the CLI) an argon2 hash and its memory.
    probe = (
        "import argon2\n"
        "calls = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import app.accounts\n"
        "print(len(calls))\n"
    )
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "0"


def test_one_dummy_hash_serves_every_unknown_address(db, monkeypatch):
    _dummy_hash.cache_clear()
    made = []
    real = PasswordHasher.hash
    monkeypatch.setattr(PasswordHasher, "hash", lambda *a, **k: made.append(1) or real(*a, **k))
    for stranger in ("a@example.org", "b@example.org", "not an address"):
        assert authenticate(db, email=stranger, password="long enough pass", now=NOW) is None
    assert len(made) == 1
