"""Errors answered in one place: as JSON `{"detail": why}` for programs, as a page for people.

Programs call /api and /webhooks: there every refusal stays JSON, as FastAPI or this module says
it. Everywhere else a person is reading, and no framework text (`{"detail":"Not Found"}`, a list
of pydantic problems) may reach them: an unknown address, a wrong method or a value that cannot
be read is a page in the site's layout (the admin's layout under /admin) with a way back.

- A domain error (`app.errors`) answers with its kind's status: NotFound 404, Conflict 409,
  Invalid 422, Refused 502, Unavailable 503. Under /admin it is the admin's problem page (with
  the nav once logged in; "No such issue" for a missing issue); elsewhere the site's message page.
- A request the API cannot read answers as the API always has: broken JSON or an empty body
  400, anything else 422 with one readable sentence (`field: problem; …`), not a list. On a
  page, a path that cannot be read (`/archive/abc`) names no page: 404; a bad query value 422.
- A value the database cannot hold (an integer past its column, a NUL in text) that slipped
  past validation is the caller's doing, not a server fault: 422 "out of range" (issue 11).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

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
# The paths programs call: their refusals stay JSON.
PROGRAM_PATHS = ("/api", "/webhooks")
# What a person is told for Starlette's own refusals (their `detail` is only the status phrase).
PAGE_REASONS = {
    404: "There is no page at this address. It may have moved, or the link may be mistyped.",
    405: "This page cannot be opened that way. Follow a link or use the form instead.",
}
HOME = ("/", "Back to the start")
# Pydantic's sentences for the problems a person can make in an address or a form, in plain words.
PLAIN = {
    "int_parsing": "should be a whole number",
    "int_type": "should be a whole number",
    "float_parsing": "should be a number",
    "greater_than_equal": "should be at least {ge}",
    "less_than_equal": "should be at most {le}",
    "string_too_long": "should be at most {max_length} characters",
    "string_pattern_mismatch": "is not one of the values this page offers",
    "missing": "is missing",
}


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


def _where(problem: Mapping[str, Any]) -> tuple[list[str], str]:
    location = [str(part) for part in problem["loc"]]
    if location and location[0] in _SOURCES:
        location = location[1:]
    return location, ".".join(location) or "body"


def plain(problems: Iterable[Mapping[str, Any]]) -> str:
    """Validation problems for a person: `page: should be a whole number.`"""
    said = []
    for item in problems:
        words = PLAIN.get(item["type"])
        if words is None:
            said.append(_readable(item))
            continue
        said.append(f"{_where(item)[1]}: {words.format(**item.get('ctx', {}))}")
    return "; ".join(said) + "."


def _readable(problem: Mapping[str, Any]) -> str:
    location, where = _where(problem)
    message = str(problem["msg"]).removeprefix("Value error, ")
    if not location and problem["type"] == "value_error":
        return message  # our own sentence about the body as a whole
    # "source must be a name" already names its field: do not say it twice.
    return message if message.startswith(f"{where} ") else f"{where}: {message}"


def _under(request: Request, prefix: str) -> bool:
    path = request.url.path
    return path == prefix or path.startswith(prefix + "/")


def for_programs(request: Request) -> bool:
    """Whether a program made the request (under /api or /webhooks): it is answered in JSON."""
    return any(_under(request, prefix) for prefix in PROGRAM_PATHS)


def person_page(
    request: Request, status: int, heading: str, why: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error page for a person: the admin's under /admin, else the site's, with a way back."""
    if _under(request, "/admin"):
        admin = getattr(request.state, "admin", None)  # set by `current_admin` once logged in
        back = ("/admin", "Back to the dashboard")
        response = problem(request, admin, heading, why, status=status, back=back)
    else:
        response = message_page(request, heading, why, status=status, link=HOME)
    response.headers.update(headers or {})
    return response


async def domain_error(request: Request, error: Exception) -> Response:
    """A domain error: JSON for programs, the admin's problem page under /admin, else a page."""
    assert isinstance(error, DigestError)
    status = status_of(error)
    if for_programs(request):
        return JSONResponse(error.answer(), status)
    heading, why = HEADINGS.get(status, HEADINGS[400]), str(error)
    if _under(request, "/admin") and isinstance(error, IssueNotFound):
        heading, why = "No such issue", f"There is no issue {error.issue_id}."  # every admin page's
    return person_page(request, status, heading, why)


async def http_refusal(request: Request, error: Exception) -> Response:
    """Starlette's refusals (no such route, wrong method, a dependency's HTTPException):
    FastAPI's JSON for programs, a page for people, keeping the headers (Allow, Retry-After)."""
    assert isinstance(error, HTTPException)
    if for_programs(request) or error.status_code < 400:
        return await http_exception_handler(request, error)
    status = error.status_code
    phrase = _phrase(status)
    why = PAGE_REASONS.get(status) or (error.detail if error.detail != phrase else "")
    return person_page(request, status, HEADINGS.get(status, phrase), why, error.headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def request_invalid(request: Request, error: Exception) -> Response:
    """A request FastAPI could not validate: under /api 400 or 422 with a readable `detail`;
    for people a page (404 when the path itself cannot be read: it names no page)."""
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    if not _under(request, "/api"):
        if for_programs(request):
            return await request_validation_exception_handler(request, error)
        if any(item["loc"] and item["loc"][0] == "path" for item in problems):
            return person_page(request, 404, HEADINGS[404], PAGE_REASONS[404])
        return person_page(request, 422, HEADINGS[422], plain(problems))
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
    if for_programs(request):
        return JSONResponse({"detail": why}, 422)
    return person_page(request, 422, HEADINGS[422], why)


def install(app: FastAPI) -> None:
    """Answer domain errors and unreadable requests as this module says."""
    app.add_exception_handler(DigestError, domain_error)
    app.add_exception_handler(HTTPException, http_refusal)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(OverflowError, value_out_of_range)
    app.add_exception_handler(DataError, value_out_of_range)
