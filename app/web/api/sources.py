"""Sources over the admin API: list them with posts, weight and readers' clicks; set a weight."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.ranking.sources import (
    CLICK_WEEKS,
    DEFAULT_WEIGHT,
    MAX_WEIGHT,
    MIN_WEIGHT,
    InvalidSourceWeight,
    check_source_weight,
    set_source_weight,
    source_table,
)
from app.web.deps import db_session, read_json_body

router = APIRouter(tags=["sources"])


class WeightIn(BaseModel):
    """`PUT /api/sources/{source}` body: the editor's weight, 0 (listed only if pinned) to 10."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(
        ge=MIN_WEIGHT,
        le=MAX_WEIGHT,
        allow_inf_nan=False,
        strict=True,
        description="1 is the default; 2 counts the source's stories twice; 0 lists them only "
        "when pinned",
    )


class SourceOut(BaseModel):
    """One source: its posts in the window, weight, and what readers' clicks say about it."""

    source: str
    weight: float
    weight_set: bool = Field(description="an editor set this weight (else the default 1)")
    posts: int = Field(description="posts published in the last `weeks` weeks")
    click_prior: float | None = Field(
        description="how readers clicked this source's items in mailed issues against the "
        "usual for their positions, shrunk toward 1 (1.8 = 1.8x the usual); null when it was "
        "never listed in them"
    )
    listed: int = Field(description=f"its items in issues mailed in the last {CLICK_WEEKS} weeks")
    clicks: int = Field(description="clicks on those items")


class SourcesOut(BaseModel):
    """`GET /api/sources`: every source with recent posts, a weight, or items in mailed issues."""

    weeks: int
    sources: list[SourceOut]


class SourceWeightOut(BaseModel):
    """A stored weight."""

    source: str
    key: str = Field(description="how the ranking matches it: the name stripped and casefolded")
    weight: float
    updated_at: datetime


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors(include_input=False, include_url=False)
    )


@router.get("/sources")
def list_sources(
    weeks: int = Query(4, ge=1, le=52, description="count posts of this many recent weeks"),
    session: Session = db_session,
) -> SourcesOut:
    """Sources, most posts first, with the editor's weight and readers' click prior."""
    rows = source_table(session, weeks=weeks, now=clock.now())
    sources = [
        SourceOut(
            source=row.name,
            weight=row.weight,
            weight_set=row.weight_set,
            posts=row.posts,
            click_prior=row.click_prior,
            listed=row.listed,
            clicks=row.clicks,
        )
        for row in rows
    ]
    return SourcesOut(weeks=weeks, sources=sources)


@router.put(
    "/sources/{source:path}",
    response_model=SourceWeightOut,
    responses={422: {"model": Problem, "description": "a bad weight or source name"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WeightIn.model_json_schema()}},
        }
    },
)
async def put_source_weight(source: str, request: Request, session: Session = db_session) -> Any:
    """Set how much a source's stories count (0 to 10; 1 is the default)."""
    data = await read_json_body(request, limit=10_000)
    try:
        body = WeightIn.model_validate(data)
    except ValidationError as error:
        problems = [_problems(error)]
        try:
            check_source_weight(source=source, weight=DEFAULT_WEIGHT)
        except InvalidSourceWeight as bad_name:
            problems.insert(0, str(bad_name))
        return JSONResponse({"detail": "; ".join(problems)}, 422)
    try:
        row = await run_in_threadpool(
            set_source_weight, session, source=source, weight=body.weight, now=clock.now()
        )
    except InvalidSourceWeight as error:
        return JSONResponse({"detail": str(error)}, 422)
    return SourceWeightOut(
        source=row.name, key=row.source_key, weight=row.weight, updated_at=row.updated_at
    )
