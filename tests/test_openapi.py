"""/openapi.json documents every admin API operation: its request body and its answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.config import Settings
from app.web import create_app

WRITES = ("post", "put", "patch")
# Actions that take no body: the path says it all. A new bodiless write must be added here.
BODILESS = {
    ("post", "/api/issues/{issue_id}/send"),
    ("post", "/api/issues/{issue_id}/pause"),
    ("post", "/api/issues/{issue_id}/resume"),
    ("post", "/api/issues/{issue_id}/cancel"),
    ("post", "/api/issues/{issue_id}/send-remaining"),
    ("post", "/api/feeds/{feed_id}/poll"),
    ("post", "/api/subscribers/{subscriber_id}/erase"),
}


def is_model(schema: dict[str, Any]) -> bool:
    """A schema that says what the JSON holds: a model, a list of models, or a union of them."""
    if "$ref" in schema or "properties" in schema:
        return True
    if schema.get("type") == "array":
        return is_model(schema.get("items", {}))
    variants = schema.get("anyOf") or schema.get("oneOf")
    return bool(variants) and all(is_model(v) for v in variants if v.get("type") != "null")


def _content_problems(where: str, content: dict[str, Any]) -> list[str]:
    if not content:
        return [f"{where}: no content"]
    problems = []
    for media_type, entry in content.items():
        schema = entry.get("schema") or {}
        if not schema:
            problems.append(f"{where} {media_type}: empty schema")
        elif media_type.startswith("application/json") and not is_model(schema):
            problems.append(f"{where} {media_type}: not a model: {schema}")
    return problems


def undocumented(spec: dict[str, Any], prefix: str = "/api") -> list[str]:
    """Every way an operation under `prefix` fails to document its body or its answers."""
    problems = []
    for path, operations in spec["paths"].items():
        if not path.startswith(prefix):
            continue
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            answers = {
                code: answer
                for code, answer in operation.get("responses", {}).items()
                if code.startswith("2")
            }
            if not answers:
                problems.append(f"{name}: no success answer")
            for code, answer in answers.items():
                if code != "204":
                    problems += _content_problems(f"{name} {code}", answer.get("content", {}))
            if method in WRITES and (method, path) not in BODILESS:
                body = operation.get("requestBody", {}).get("content", {})
                problems += _content_problems(f"{name} body", body)
    return problems


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("var")
    settings = Settings(
        var_dir=var,
        database_url=f"sqlite:///{Path(var) / 'unused.db'}",  # the spec needs no database
        secret_key=["openapi-test-secret-0123456789"],
        admin_token="token",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_api_operation_documents_its_body_and_answers(spec):
    operations = [
        (method, path)
        for path, ops in spec["paths"].items()
        if path.startswith("/api")
        for method in ops
    ]
    assert len(operations) >= 20  # the checker below saw the API, not an empty spec
    assert undocumented(spec) == []


def test_bodiless_actions_are_still_api_operations(spec):
    # A stale entry would exempt nothing and hide a renamed route's missing body.
    for method, path in BODILESS:
        assert method in spec["paths"][path]


def test_refusals_are_documented_as_json_problems(spec):
    for path, operations in spec["paths"].items():
        if not path.startswith("/api"):
            continue
        for method, operation in operations.items():
            for code in ("401", "403", "422"):
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema["$ref"].rsplit("/", 1)[-1] in ("Problem", "PostsRefused"), (
                    method,
                    path,
                    code,
                )


def test_the_import_documents_json_csv_and_upload(spec):
    body = spec["paths"]["/api/subscribers/import"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data", "text/csv"}
    assert body["application/json"]["schema"]["required"] == ["consent_source", "subscribers"]
    export = spec["paths"]["/api/subscribers/export"]["get"]["responses"]["200"]["content"]
    assert [media_type.split(";")[0] for media_type in export] == ["text/csv"]


class Answer(BaseModel):
    ok: bool


def test_the_checker_sees_what_is_missing():
    app = FastAPI()

    @app.post("/api/untyped")
    def untyped(payload: dict) -> dict:  # a bare dict: no model on either side
        return payload

    @app.post("/api/no-body")
    def no_body() -> Answer:
        return Answer(ok=True)

    @app.get("/api/typed")
    def typed() -> Answer:
        return Answer(ok=True)

    problems = undocumented(app.openapi())
    assert any(
        p.startswith("POST /api/untyped 200 application/json: not a model") for p in problems
    )
    assert any(
        p.startswith("POST /api/untyped body application/json: not a model") for p in problems
    )
    assert "POST /api/no-body body: no content" in problems
    assert not [p for p in problems if "/api/typed" in p]


def test_deleting_a_draft_is_documented_with_its_refusals(spec):
    operation = spec["paths"]["/api/issues/{issue_id}"]["delete"]
    answers = operation["responses"]
    assert "204" in answers and "requestBody" not in operation
    for code in ("404", "409"):
        schema = answers[code]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/Problem"), code
