"""Path and query parameters the routers share, with the bounds the store can hold.

Ids are bounded to the range of a 32-bit integer column: a larger number cannot name a row, and
refusing it here gives a 422 that says so rather than an overflow inside the database driver.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from service.schemas import MAX_LIMIT

MAX_ID = 2**31 - 1
MAX_CURSOR = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip.")]
SearchId = Annotated[int, Path(ge=1, le=MAX_ID, description="A search's id.")]
ArchitectureId = Annotated[int, Path(ge=1, le=MAX_ID, description="An architecture's id.")]
WorkerId = Annotated[int, Path(ge=1, le=MAX_ID, description="A worker's id (from register).")]
BatchId = Annotated[int, Path(ge=1, le=MAX_ID, description="A batch's id (from the lease).")]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="A token's id.")]
