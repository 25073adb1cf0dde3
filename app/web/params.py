"""Bounds on the numbers a URL carries: row ids and paging.

FastAPI reads any decimal of any length as an `int`; past what the column holds the database
fails (SQLite: OverflowError past 64 bits; PostgreSQL: "integer out of range" past 2**31 - 1)
and the caller got a 500. Bounded here, a too-large number is a 422 that names the parameter,
and the OpenAPI schema says the range.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Ids are `integer` columns: 32 bits signed on PostgreSQL, the narrower of the two databases.
MAX_ROW_ID = 2**31 - 1
# Far past any real list, and small enough that offset arithmetic stays inside 64 bits.
MAX_OFFSET = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_OFFSET // 1000, description="page, from 1")]
