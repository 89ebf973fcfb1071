"""`GET /v1/budget`: today's cap, spend and reservations of the caller's project."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.rpc import BudgetStatus, ProjectRef
from gateway_edge.calls import call_service
from gateway_edge.state import EdgeState

router = APIRouter()


@router.get("/v1/budget", summary="Today's budget of the caller's project and its capped keys")
async def get_budget(request: Request) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    credential = state.auth.api_key(request.headers.get("authorization"))
    query = ProjectRef(project_id=credential.project_id or "")
    status = await call_service(state, "accounting", bus.ADMIN_PROJECT_BUDGET, query, BudgetStatus)
    return JSONResponse(status.model_dump(mode="json"))
