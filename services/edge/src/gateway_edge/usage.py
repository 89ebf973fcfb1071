"""`GET /v1/usage`: the caller's project's totals per day and model."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.rpc import UsageReport, UsageReportRequest
from gateway_edge.calls import call_service
from gateway_edge.day_range import day_range
from gateway_edge.state import EdgeState

router = APIRouter()

_DEFAULT_DAYS = 30


@router.get("/v1/usage", summary="Usage of the caller's project per day and model")
async def get_usage(
    request: Request,
    start: date | None = Query(default=None, description="First UTC day, inclusive (default: 29 days before `end`)"),
    end: date | None = Query(default=None, description="Last UTC day, inclusive (default: today)"),
) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    credential = state.auth.api_key(request.headers.get("authorization"))
    start, end = day_range(start, end, _DEFAULT_DAYS)

    query = UsageReportRequest(project_id=credential.project_id or "", start=start, end=end)
    reply = await call_service(state, "accounting", bus.ACCOUNTING_USAGE_REPORT, query, UsageReport)

    return JSONResponse(
        {
            "object": "list",
            "start": start.isoformat(),
            "end": end.isoformat(),
            # Costs are strings so that JSON parsers keep them exact.
            "data": [row.model_dump(mode="json") for row in reply.rows],
        }
    )
