"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine needed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "api", "worker", "beat")


def setting_names() -> set[str]:
    """Every DIGEST_* variable the settings read (field names, or their alias)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add((field.alias or f"DIGEST_{name}").upper())
    return names


def test_the_stack_has_every_service_with_health_checks():
    assert set(SERVICES) >= {"postgres", "redis", "mailpit", "migrate", "api", "worker", "beat"}
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert SERVICES["redis"]["image"].startswith("redis:7")
    assert SERVICES["mailpit"]["image"].startswith("axllent/mailpit")
    for name in ("postgres", "redis", "mailpit", "api", "worker"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])


def test_app_services_share_one_image_and_wait_for_the_migration():
    for name in APP_SERVICES:
        assert SERVICES[name]["build"] == "." and SERVICES[name]["image"] == "weekly-digest:latest"
    for name in ("api", "worker", "beat"):
        waits = SERVICES[name]["depends_on"]
        assert waits["migrate"]["condition"] == "service_completed_successfully"
        assert waits["redis"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["command"] == ["digest", "migrate"]
    assert SERVICES["migrate"]["restart"] == "no"


def test_workers_scale_and_beat_stays_single():
    # --scale needs no fixed container_name and no published port on the worker.
    assert "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    assert SERVICES["beat"]["command"] == ["digest", "beat"]


def test_environment_names_are_settings_the_app_reads():
    known = setting_names()
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        unknown = sorted(set(env) - known)
        assert not unknown, f"{name}: {unknown} are not fields of app.config.Settings"
    env = SERVICES["api"]["environment"]
    assert env["DIGEST_SMTP_URL"].endswith("smtp://mailpit:1025}")
    assert env["DIGEST_BROKER_URL"].startswith("redis://redis:6379")
    assert env["DIGEST_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["DIGEST_DATABASE_URL"]
    assert ":?" in env["DIGEST_SECRET_KEY"]  # compose refuses to start without a secret


def test_dockerfile_runs_the_api_as_a_non_root_user():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert 'CMD ["digest", "api"' in text and "HEALTHCHECK" in text
    for env_name in re.findall(r"\b(DIGEST_[A-Z_]+)=", text):
        assert env_name in setting_names(), env_name
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "var" in ignored and ".env" in ignored
