"""Sources over the admin API: list them with posts, weight and readers' clicks; set a weight."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, WithJsonSchema

from app import clock
from app.ranking.schemas import SourcesOut, SourceWeightOut, WeightIn
from app.ranking.sources import set_source_weight, source_name, source_table
from app.web.deps import SessionDep, json_body_routes

router = APIRouter(tags=["sources"], route_class=json_body_routes(limit=10_000))

# Checked with the body, so one answer names a bad name and a bad weight together.
SourceName = Annotated[
    str,
    AfterValidator(source_name),
    Path(description="the source's name as posts give it; matched stripped and casefolded"),
]


@router.get("/sources")
def list_sources(
    session: SessionDep,
    weeks: Annotated[
        int, Query(ge=1, le=52, description="count posts of this many recent weeks")
    ] = 4,
) -> SourcesOut:
    """Sources, most posts first, with the editor's weight and readers' click prior."""
    return SourcesOut.of(source_table(session, weeks=weeks, now=clock.now()), weeks=weeks)


@router.put("/sources/{source:path}")
def put_source_weight(
    source: SourceName,
    # The one-field body reads best written out in place rather than as a reference.
    body: Annotated[WeightIn, WithJsonSchema(WeightIn.model_json_schema())],
    session: SessionDep,
) -> SourceWeightOut:
    """Set how much a source's stories count (0 to 10; 1 is the default)."""
    row = set_source_weight(session, source=source, weight=body.weight, now=clock.now())
    return SourceWeightOut.of(row)
