"""`/admin/projects/{id}/session-retention`: how long a project's session turns are kept.

The setting belongs to the sessions service. The edge first checks with
accounting that the project exists, so that an unknown project is a 404 here
too.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.rpc import Project, ProjectRef
from gateway_contracts.sessions import RetentionApplied, RetentionRef, RetentionSetting
from gateway_edge.admin import _json_body, _state
from gateway_edge.calls import call_service
from gateway_edge.state import EdgeState

router = APIRouter(prefix="/admin", tags=["admin"])


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Days a turn is kept after it was stored; null keeps turns until their session is deleted.
    days: int | None = Field(ge=1, le=36_500)


@router.get("/projects/{project_id}/session-retention", summary="Get how long the project's session turns are kept")
async def get_retention(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    await _require_project(state, project_id)
    setting = await call_service(
        state, "sessions", bus.SESSIONS_RETENTION_GET, RetentionRef(project_id=project_id), RetentionSetting
    )
    return JSONResponse(setting.model_dump(mode="json"))


@router.put(
    "/projects/{project_id}/session-retention",
    summary="Set how long the project's session turns are kept; older turns are deleted at once and then hourly",
)
async def set_retention(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    body: RetentionBody = await _json_body(request, RetentionBody)
    await _require_project(state, project_id)
    setting = RetentionSetting(project_id=project_id, days=body.days)
    applied = await call_service(state, "sessions", bus.SESSIONS_RETENTION_SET, setting, RetentionApplied)
    return JSONResponse(applied.model_dump(mode="json"))


async def _require_project(state: EdgeState, project_id: str) -> None:
    await call_service(state, "accounting", bus.ADMIN_PROJECT_GET, ProjectRef(project_id=project_id), Project)
