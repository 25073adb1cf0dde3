"""/metrics: figures read from the database, access rules, and the JSON log format."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.logs import JsonFormatter, configure_logging
from app.models import Delivery, Issue, Subscriber
from app.tracking.metrics import render_metrics
from tests.test_issues import NOW


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return item.value
    raise AssertionError(f"no sample {name} {labels}")


def seed(db) -> Issue:
    """5 readers (3 confirmed); an issue sending: 2 sent (1 in the last minute), 1 failed."""
    readers = []
    for n, status in enumerate(["confirmed"] * 3 + ["pending", "unsubscribed"]):
        reader = Subscriber(
            email=f"m{n}@example.org",
            status=status,
            source="test",
            created_at=NOW,
            updated_at=NOW,
            confirm_nonce=0,
        )
        db.add(reader)
        readers.append(reader)
    issue = Issue(
        week="2026-W48",
        status="sending",
        subject="s",
        intro="",
        pins=[],
        drops=[],
        created_at=NOW,
        updated_at=NOW,
        send_started_at=NOW - timedelta(minutes=10),
    )
    db.add(issue)
    db.flush()
    ages = [("sent", 30), ("sent", 200), ("failed", None), ("pending", None), ("pending", None)]
    for reader, (state, age) in zip(readers, ages, strict=True):
        sent_at = NOW - timedelta(seconds=age) if age is not None else None
        db.add(
            Delivery(
                issue_id=issue.id,
                subscriber_id=reader.id,
                batch=0,
                state=state,
                attempts=1,
                updated_at=NOW,
                sent_at=sent_at,
            )
        )
    db.commit()
    return issue


def test_figures_come_from_the_database(db):
    issue = seed(db)
    text = render_metrics(db, now=NOW).decode()
    assert sample(text, "digest_subscribers", status="confirmed") == 3
    assert sample(text, "digest_subscribers", status="bounced") == 0
    assert sample(text, "digest_deliveries", state="pending") == 2
    assert sample(text, "digest_issue_deliveries", issue=str(issue.id), state="sent") == 2
    assert sample(text, "digest_sent_recent", window="1m") == 1
    assert sample(text, "digest_sent_recent", window="5m") == 2
    assert sample(text, "digest_send_rate_per_second", window="5m") == round(2 / 300, 3)
    assert sample(text, "digest_delivery_failures", state="failed") == 1
    assert sample(text, "digest_issues", status="sending") == 1


def test_metrics_need_the_admin_token_unless_asked_from_loopback(app, client, admin_headers, db):
    seed(db)
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers=admin_headers)
    assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain")
    assert sample(allowed.text, "digest_subscribers", status="confirmed") == 3
    with TestClient(app, client=("127.0.0.1", 50000)) as local:
        assert local.get("/metrics").status_code == 200


def test_json_logs_are_one_object_per_line_with_extras():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("digest.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("issue %s paused", 7, extra={"issue_id": 7})
        try:
            raise RuntimeError("smtp down")
        except RuntimeError:
            logger.exception("batch failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["message"], first["issue_id"]) == ("warning", "issue 7 paused", 7)
    assert first["logger"] == "digest.test.logs" and first["time"].endswith("+00:00")
    assert "RuntimeError: smtp down" in second["exception"]


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="text, json"):
        configure_logging("xml")
