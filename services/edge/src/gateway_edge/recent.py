"""`GET /v1/requests` and its admin twin: a project's newest requests, one row each, for a live view."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.rpc import MAX_RECENT_REQUESTS, RecentRequests, RecentRequestsRequest
from gateway_edge.admin_http import admin_state
from gateway_edge.calls import call_service
from gateway_edge.state import EdgeState

router = APIRouter()

LIMIT = Query(default=50, ge=1, le=MAX_RECENT_REQUESTS, description="Rows to return, the newest first")


@router.get("/v1/requests", summary="The newest requests of the caller's project, from the last 7 days")
async def list_recent(request: Request, limit: int = LIMIT) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    credential = state.auth.api_key(request.headers.get("authorization"))
    return await _recent(state, credential.project_id or "", limit)


@router.get(
    "/admin/projects/{project_id}/requests",
    summary="The newest requests of a project, from the last 7 days",
    tags=["admin"],
)
async def list_project_recent(project_id: str, request: Request, limit: int = LIMIT) -> JSONResponse:
    return await _recent(admin_state(request), project_id, limit)


async def _recent(state: EdgeState, project_id: str, limit: int) -> JSONResponse:
    query = RecentRequestsRequest(project_id=project_id, limit=limit)
    report = await call_service(state, "accounting", bus.ACCOUNTING_RECENT_REQUESTS, query, RecentRequests)
    # Costs are strings so that JSON parsers keep them exact.
    return JSONResponse({"object": "list", **report.model_dump(mode="json")})
