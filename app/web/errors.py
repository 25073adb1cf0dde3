"""Errors answered in one place: as JSON `{"detail": why}` under /api, as a page for people.

- A domain error (`app.errors`) answers with its kind's status: NotFound 404, Conflict 409,
  Invalid 422, Refused 502, Unavailable 503. Under /admin it is the admin's problem page (with
  the nav once logged in; "No such issue" for a missing issue); elsewhere the site's message page.
- A request the API cannot read answers as the API always has: broken JSON or an empty body
  400, anything else 422 with one readable sentence (`field: problem; …`), not a list.
- A value the database cannot hold (an integer past its column, a NUL in text) that slipped
  past validation is the caller's doing, not a server fault: 422 "out of range" (issue 11).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError

from app.errors import Conflict, DigestError, Invalid, NotFound, Refused, Unavailable
from app.issues.errors import IssueNotFound
from app.web.admin.pages import problem
from app.web.public import message_page

STATUS: tuple[tuple[type[DigestError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (Refused, 502),
    (Unavailable, 503),
)
HEADINGS = {
    400: "That cannot be done",
    404: "Not found",
    409: "That cannot be done now",
    422: "That cannot be used",
    502: "Refused by the mail server",
    503: "Unavailable for now",
}
# Where FastAPI says a request's value came from: left out of a problem's field name.
_SOURCES = ("body", "query", "path", "header", "cookie")


# What any admin API route can refuse with, beside its own refusals.
API_REFUSALS = {
    401: "no `Authorization: Bearer` token",
    403: "a wrong token, or the admin API is closed",
    422: "a field or parameter that cannot be used",
}


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


def refusals(answers: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` documenting refusals as `Problem`: {status: why}."""
    return {status: {"model": Problem, "description": why} for status, why in answers.items()}


def json_refusals(answers: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """The same for a route that answers another media type (CSV, HTML): its refusals are
    still JSON, which FastAPI would otherwise document in the route's own media type."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"description": why, "content": content} for status, why in answers.items()}


def status_of(error: DigestError) -> int:
    """The HTTP status of a domain error (400 for one of no more specific kind)."""
    return next((status for kind, status in STATUS if isinstance(error, kind)), 400)


def readable(problems: Iterable[Mapping[str, Any]]) -> str:
    """Validation problems as one sentence: `field: problem; …` (`body` for the whole body)."""
    return "; ".join(_readable(problem) for problem in problems)


def _readable(problem: Mapping[str, Any]) -> str:
    location = [str(part) for part in problem["loc"]]
    if location and location[0] in _SOURCES:
        location = location[1:]
    where = ".".join(location) or "body"
    message = str(problem["msg"]).removeprefix("Value error, ")
    if not location and problem["type"] == "value_error":
        return message  # our own sentence about the body as a whole
    # "source must be a name" already names its field: do not say it twice.
    return message if message.startswith(f"{where} ") else f"{where}: {message}"


def _under(request: Request, prefix: str) -> bool:
    path = request.url.path
    return path == prefix or path.startswith(prefix + "/")


async def domain_error(request: Request, error: Exception) -> Response:
    """A domain error: JSON under /api, the admin's problem page under /admin, else a page."""
    assert isinstance(error, DigestError)
    status = status_of(error)
    if _under(request, "/api"):
        return JSONResponse(error.answer(), status)
    heading = HEADINGS.get(status, HEADINGS[400])
    if _under(request, "/admin"):
        if isinstance(error, IssueNotFound):  # every admin issue page's own "no such issue"
            heading, why = "No such issue", f"There is no issue {error.issue_id}."
        else:
            why = str(error)
        admin = getattr(request.state, "admin", None)  # set by `current_admin` once logged in
        back = ("/admin", "Back to the dashboard")
        return problem(request, admin, heading, why, status=status, back=back)
    return message_page(
        request, heading, str(error), status=status, link=("/", "Back to the start")
    )


async def request_invalid(request: Request, error: Exception) -> Response:
    """A request FastAPI could not validate: under /api 400 or 422 with a readable `detail`."""
    assert isinstance(error, RequestValidationError)
    if not _under(request, "/api"):
        return await request_validation_exception_handler(request, error)
    problems = error.errors()
    for item in problems:
        if item["type"] == "json_invalid":
            return JSONResponse({"detail": _broken_json(item, error.body)}, 400)
        if item["type"] == "missing" and tuple(item["loc"]) == ("body",):
            return JSONResponse({"detail": "the body is empty: send JSON"}, 400)
    return JSONResponse({"detail": readable(problems)}, 422)


def _broken_json(problem: Mapping[str, Any], document: Any) -> str:
    reason = problem.get("ctx", {}).get("error", "")
    position = problem["loc"][-1]
    if isinstance(document, str) and isinstance(position, int):
        reason = str(json.JSONDecodeError(reason, document, position))
    return f"the body is not valid JSON: {reason}"


async def value_out_of_range(request: Request, error: Exception) -> Response:
    """An integer or text the database refused (see the module's docstring): 422, no trace."""
    why = "a number in the request is out of range, or a text holds a character (NUL) not allowed"
    if _under(request, "/api"):
        return JSONResponse({"detail": why}, 422)
    if _under(request, "/admin"):
        admin = getattr(request.state, "admin", None)
        return problem(request, admin, HEADINGS[422], why, status=422, back=("/admin", "Back"))
    return message_page(request, HEADINGS[422], why, status=422, link=("/", "Back to the start"))


def install(app: FastAPI) -> None:
    """Answer domain errors and unreadable requests as this module says."""
    app.add_exception_handler(DigestError, domain_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(OverflowError, value_out_of_range)
    app.add_exception_handler(DataError, value_out_of_range)
