"""``/v1/polymodal/check``: the advisor's word on a query, before CLIP is asked it.

Pure text, no model: whether CLIP can answer a query (counting, spatial relations, negation,
text in images ... are its known limits) and what to use instead (``polymodal check --json``).
Runs on the advisor's own small pool, so a burst of checks never waits behind image work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

import polymodal
from polymodal.errors import BadInputError
from polymodal.server.state import ServerState, server_state

router = APIRouter(prefix="/v1/polymodal", tags=["polymodal"])

MAX_QUERIES = 256


class CheckRequest(BaseModel):
    """One query, or several checked in one batch."""

    model_config = ConfigDict(extra="forbid")

    query: str | list[str] = Field(description="A query or label, or a list of them.")


def _queries(request: CheckRequest) -> list[str]:
    queries = [request.query] if isinstance(request.query, str) else list(request.query)
    if not queries or any(not q.strip() for q in queries):
        raise BadInputError("Every query needs words.", param="query")
    if len(queries) > MAX_QUERIES:
        raise BadInputError(
            f"{len(queries)} queries is over the limit of {MAX_QUERIES}.", param="query"
        )
    return queries


@router.post("/check")
async def check(
    request: CheckRequest, state: Annotated[ServerState, Depends(server_state)]
) -> JSONResponse:
    """Whether CLIP can answer the query, with each limit's reason and an alternative: one
    result for a string, a list for a list (``polymodal check --json``)."""
    queries = _queries(request)
    checks = await state.advisor.run(polymodal.check_queries, queries)
    data = polymodal.to_data(checks)
    return JSONResponse(data[0] if isinstance(request.query, str) else data)
