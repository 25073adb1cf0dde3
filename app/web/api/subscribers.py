"""Readers over the admin API: list, import (JSON or CSV), export; one reader's data, erasure."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from app import clock
from app.errors import Invalid
from app.readers.directory import all_readers, find_readers
from app.readers.files import BadCSV, export_subscriber_csv, parse_subscriber_csv
from app.readers.importing import import_in_chunks
from app.readers.privacy import erase_reader, export_reader
from app.readers.schemas import (
    ErasureOut,
    ImportReportOut,
    ReaderExport,
    SubscriberImportIn,
    SubscriberOut,
    SubscriberPage,
    consent_source,
)
from app.web.deps import SessionDep, SettingsDep
from app.web.errors import API_REFUSALS, json_refusals, refusals
from app.web.params import Offset, RowId

router = APIRouter(tags=["subscribers"])
MAX_IMPORT_BYTES = 20_000_000
Rows = list[tuple[int, str, str | None]]
StatusQuery = Annotated[
    str | None,
    Query(description="pending, confirmed, unsubscribed, bounced or complained"),
]


class CSVResponse(StreamingResponse):
    """CSV text, streamed (and documented as such)."""

    media_type = "text/csv; charset=utf-8"


@router.get("/subscribers")
def list_subscribers(
    session: SessionDep,
    settings: SettingsDep,
    status: StatusQuery = None,
    q: Annotated[
        str | None, Query(max_length=320, description="substring of the address or name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> SubscriberPage:
    """Readers, newest first, optionally filtered by status and a search string."""
    rows, total = find_readers(session, query=q or "", status=status, limit=limit, offset=offset)
    items = [SubscriberOut.model_validate(row) for row in rows]
    for item in items:
        item.section_labels = settings.sections.labels(item.sections)
    return SubscriberPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/subscribers/export",
    response_class=CSVResponse,
    responses={
        200: {"description": "a header line, then one reader per line"},
        **json_refusals(API_REFUSALS),
    },
)
def export_subscribers(session: SessionDep, status: StatusQuery = None) -> CSVResponse:
    """All readers (or those with `status`) as CSV."""
    return CSVResponse(
        export_subscriber_csv(all_readers(session, status=status)),
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )


async def read_import(request: Request) -> tuple[str, Rows]:
    """(consent source, numbered rows) from a JSON body, a multipart upload or a raw CSV body.

    Read by hand because one route takes three kinds of body; a broken one is a 422."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if int(request.headers.get("content-length") or 0) > MAX_IMPORT_BYTES:
        raise Invalid("the upload is too large")
    if content_type == "application/json":
        try:
            body = SubscriberImportIn.model_validate(_json(await _body(request)))
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_url=False)) from error
        return body.consent_source, body.rows()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("attach the CSV as the form field 'file'")
        source = consent_source(form.get("consent_source"))
        return source, _csv_rows(await upload.read(MAX_IMPORT_BYTES + 1))
    if content_type in ("text/csv", "text/plain"):
        source = consent_source(request.query_params.get("consent_source"))
        return source, _csv_rows(await _body(request))
    raise Invalid("send JSON, a multipart upload with 'file', or text/csv")


async def _body(request: Request) -> bytes:
    """The body, refused once past MAX_IMPORT_BYTES while it streams in (a chunked body has no
    Content-Length to check first)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            raise Invalid("the upload is too large")
    return bytes(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError as error:
        raise Invalid("the JSON is nested too deeply") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise Invalid(f"the body is not valid JSON: {error}") from error


def _csv_rows(data: bytes) -> Rows:
    try:
        return parse_subscriber_csv(data)
    except BadCSV as error:
        raise BadCSV(f"CSV: {error}") from error


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place (no `$defs`)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(value) for value in node] if isinstance(node, list) else node

    return resolve(schema)


CSV_FORM = {
    "type": "object",
    "required": ["file", "consent_source"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "UTF-8 CSV, `email` column"},
        "consent_source": {"type": "string"},
    },
}


@router.post(
    "/subscribers/import",
    responses=refusals({503: "the database failed half-way: `detail` says up to which line"}),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_schema(SubscriberImportIn)},
                "multipart/form-data": {"schema": CSV_FORM},
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "with `?consent_source=` in the query",
                    }
                },
            },
        }
    },
)
def import_subscribers_route(
    upload: Annotated[tuple[str, Rows], Depends(read_import)],
    session: SessionDep,
    settings: SettingsDep,
) -> ImportReportOut:
    """Import readers as confirmed, recording the consent source; bad rows are reported by line.

    An address whose reader was erased is skipped as suppressed (`skipped`, by line). Committed
    in chunks: a 503 says up to which line rows were imported, and sending it again is safe."""
    source, rows = upload
    report = import_in_chunks(
        session,
        commit=session.commit,
        rows=rows,
        consent_source=source,
        now=clock.now(),
        keys=settings.signing_keys(),
    )
    return ImportReportOut.model_validate(report)


NO_READER = {404: "no reader with that id"}


@router.get("/subscribers/{subscriber_id}/export", responses=refusals(NO_READER))
def export_reader_route(subscriber_id: RowId, session: SessionDep) -> ReaderExport:
    """Everything stored about one reader (SPEC §10 GDPR): address, consent record, deliveries."""
    return ReaderExport.model_validate(export_reader(session, subscriber_id, now=clock.now()))


@router.post(
    "/subscribers/{subscriber_id}/erase",
    responses=refusals({**NO_READER, 409: "the reader was already erased"}),
)
def erase_reader_route(
    subscriber_id: RowId, session: SessionDep, settings: SettingsDep
) -> ErasureOut:
    """Erase a reader's address and name everywhere; the consent record keeps a keyed hash.

    The address stays suppressed against imports; the reader can subscribe again by the form."""
    erasure = erase_reader(
        session, subscriber_id, settings=settings, now=clock.now(), channel="api"
    )
    return ErasureOut.model_validate(erasure)
