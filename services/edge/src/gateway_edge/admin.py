"""Admin endpoints for projects and API keys, authorized by an admin token.

Each endpoint checks the token, then asks accounting, which owns projects and
keys; changes reach every edge through the auth KV bucket.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.chat import describe_validation_error
from gateway_contracts.rpc import (
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyList,
    KeyRef,
    Project,
    ProjectCreate,
    ProjectList,
    ProjectListRequest,
    ProjectRef,
    ProjectUpdate,
)
from gateway_edge.calls import call_service
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

router = APIRouter(prefix="/admin", tags=["admin"])

Body = TypeVar("Body", bound=BaseModel)


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    timezone: str | None = None
    disabled: bool | None = None


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)


def _state(request: Request) -> EdgeState:
    state: EdgeState = request.app.state.edge
    state.auth.admin(request.headers.get("authorization"))
    return state


async def _json_body(request: Request, model: type[Body]) -> Body:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        if error.errors()[0]["type"] == "json_invalid":
            raise EdgeError("invalid_json", "The request body is not valid JSON.") from None
        problem = describe_validation_error(error)
        raise EdgeError("invalid_request", problem.message, param=problem.param) from None


def _json(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


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
