"""The admin API against its own OpenAPI schema (schemathesis): no generated request is a 500.

Bounded so it runs in CI in about a minute on two cores: a fixed number of examples per
operation, derandomized (the same cases every run), the admin bearer token on every request.
Only the server-error check fails the test: the shape of 4xx answers is FastAPI's business.
Every operation is tried even when one fails, and the failures are listed together.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import ADMIN_TOKEN

EXAMPLES = 50
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_no_generated_request_is_a_server_error(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20  # the whole admin API, not an empty schema
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_500(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            no_500()
        except Exception as error:  # noqa: BLE001 - collected, reported together below
            failures[operation.label] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in failures.items())
