"""Admin endpoints for projects and API keys, authorized by an admin token.

Each endpoint checks the token, then asks accounting, which owns projects and
keys; changes reach every edge through the auth KV bucket.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.money import BudgetCap
from gateway_contracts.rpc import (
    AlertThreshold,
    BudgetStatus,
    DisplayName,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyList,
    KeyRef,
    KeyUpdate,
    Project,
    ProjectCreate,
    ProjectList,
    ProjectListRequest,
    ProjectRef,
    ProjectUpdate,
    ReconcileReport,
    ReconcileRequest,
)
from gateway_edge.admin_http import admin_state as _state
from gateway_edge.admin_http import json_body as _json_body
from gateway_edge.admin_http import json_response as _json
from gateway_edge.analytics import END, GRANULARITY, GROUP_BY, START, TIMEZONE, analytics_request, analytics_response
from gateway_edge.calls import call_service
from gateway_edge.day_range import day_range

router = APIRouter(prefix="/admin", tags=["admin"])


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None = None
    daily_budget_usd: BudgetCap | None = None
    timezone: str | None = None
    disabled: bool | None = None
    budget_alert_threshold: AlertThreshold | None = None


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None = None
    daily_budget_usd: BudgetCap | None = None


@router.post("/projects", summary="Create a project", status_code=201)
async def create_project(request: Request) -> JSONResponse:
    state = _state(request)
    body: ProjectCreate = await _json_body(request, ProjectCreate)
    project = await call_service(state, "accounting", bus.ADMIN_PROJECT_CREATE, body, Project)
    return _json(project, 201)


@router.get("/projects", summary="List projects")
async def list_projects(request: Request) -> JSONResponse:
    state = _state(request)
    projects = await call_service(state, "accounting", bus.ADMIN_PROJECT_LIST, ProjectListRequest(), ProjectList)
    return JSONResponse({"object": "list", **projects.model_dump(mode="json")})


@router.get("/projects/{project_id}", summary="Get a project")
async def get_project(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    project = await call_service(state, "accounting", bus.ADMIN_PROJECT_GET, ProjectRef(project_id=project_id), Project)
    return _json(project)


@router.patch("/projects/{project_id}", summary="Change a project's budget, time zone, name or disabled flag")
async def update_project(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    patch: ProjectPatch = await _json_body(request, ProjectPatch)
    update = ProjectUpdate(project_id=project_id, **patch.model_dump(exclude_unset=True))
    project = await call_service(state, "accounting", bus.ADMIN_PROJECT_UPDATE, update, Project)
    return _json(project)


@router.post(
    "/projects/{project_id}/keys", summary="Create an API key; its secret is returned only once", status_code=201
)
async def create_key(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    body: KeyRequest = await _json_body(request, KeyRequest)
    created = await call_service(
        state, "accounting", bus.ADMIN_KEY_CREATE, KeyCreate(project_id=project_id, **body.model_dump()), KeyCreated
    )
    return _json(created, 201)


@router.get("/projects/{project_id}/keys", summary="List a project's API keys, without secrets")
async def list_keys(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    keys = await call_service(state, "accounting", bus.ADMIN_KEY_LIST, ProjectRef(project_id=project_id), KeyList)
    return JSONResponse({"object": "list", **keys.model_dump(mode="json")})


@router.delete("/projects/{project_id}/keys/{key_id}", summary="Revoke an API key")
async def revoke_key(project_id: str, key_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    key = await call_service(
        state, "accounting", bus.ADMIN_KEY_REVOKE, KeyRef(project_id=project_id, key_id=key_id), KeyInfo
    )
    return _json(key)


@router.patch("/projects/{project_id}/keys/{key_id}", summary="Rename an API key or change its daily cap")
async def update_key(project_id: str, key_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    patch: KeyRequest = await _json_body(request, KeyRequest)
    update = KeyUpdate(project_id=project_id, key_id=key_id, **patch.model_dump(exclude_unset=True))
    key = await call_service(state, "accounting", bus.ADMIN_KEY_UPDATE, update, KeyInfo)
    return _json(key)


@router.get("/projects/{project_id}/budget", summary="Today's budget of a project and its capped keys")
async def get_budget(project_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    status = await call_service(
        state, "accounting", bus.ADMIN_PROJECT_BUDGET, ProjectRef(project_id=project_id), BudgetStatus
    )
    return _json(status)


@router.get("/projects/{project_id}/analytics", summary="Analytics of a project")
async def get_project_analytics(
    project_id: str,
    request: Request,
    start: str | None = START,
    end: str | None = END,
    granularity: str | None = GRANULARITY,
    group_by: str | None = GROUP_BY,
    timezone: str | None = TIMEZONE,
) -> JSONResponse:
    state = _state(request)
    query = analytics_request(project_id, start, end, granularity, group_by, timezone)
    return await analytics_response(state, query)


@router.get(
    "/projects/{project_id}/reconcile",
    summary="Compare a project's requests and spend in PostgreSQL and ClickHouse, per UTC day",
)
async def reconcile(
    project_id: str,
    request: Request,
    start: date | None = Query(default=None, description="First UTC day, inclusive (default: 6 days before `end`)"),
    end: date | None = Query(default=None, description="Last UTC day, inclusive (default: today)"),
) -> JSONResponse:
    state = _state(request)
    start, end = day_range(start, end, default_days=7)
    query = ReconcileRequest(project_id=project_id, start=start, end=end)
    report = await call_service(state, "accounting", bus.ADMIN_PROJECT_RECONCILE, query, ReconcileReport)
    return _json(report)
