"""Admin endpoints for models, prices and aliases, authorized by an admin token.

Each endpoint checks the token, then calls the catalog service, which owns the
catalog. Changes reach every edge and router through the catalog and alias
KV buckets.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse

from gateway_contracts import CatalogEntry, ModelAlias, Price, bus
from gateway_contracts.records import AliasName, ModelId
from gateway_contracts.rpc import (
    AdminModel,
    AdminModelList,
    AliasList,
    AliasListRequest,
    AliasRef,
    AliasSet,
    ModelChanges,
    ModelListRequest,
    ModelRef,
    ModelUpdate,
    PriceChange,
    PriceRef,
)
from gateway_edge.admin_http import admin_state, json_body, json_response, validated
from gateway_edge.calls import call_service

router = APIRouter(prefix="/admin", tags=["admin"])


class AliasTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # An alias name is accepted here so that the catalog can name the model it stands for.
    model: ModelId | AliasName


@router.get("/models", summary="List every model, retired ones included, with where each came from")
async def list_models(request: Request) -> JSONResponse:
    state = admin_state(request)
    models = await call_service(state, "catalog", bus.CATALOG_MODEL_LIST, ModelListRequest(), AdminModelList)
    return JSONResponse({"object": "list", **models.model_dump(mode="json")})


@router.post("/models", summary="Add a model, for example a custom one on a self-hosted server", status_code=201)
async def create_model(request: Request) -> JSONResponse:
    state = admin_state(request)
    entry = await json_body(request, CatalogEntry)
    model = await call_service(state, "catalog", bus.CATALOG_MODEL_CREATE, entry, AdminModel)
    return json_response(model, 201)


# Routes with a suffix come before the plain `{model_id:path}` ones, which
# would otherwise take `openai/gpt-4o/prices` as a model id.
@router.post(
    "/models/{model_id:path}/prices",
    summary="Schedule a price from its `effective_from` day (today or later) on",
    status_code=201,
)
async def add_price(model_id: str, request: Request) -> JSONResponse:
    state = admin_state(request)
    price = await json_body(request, Price)
    change = PriceChange(model_id=model_id, price=price)
    model = await call_service(state, "catalog", bus.CATALOG_PRICE_ADD, change, AdminModel)
    return json_response(model, 201)


@router.delete("/models/{model_id:path}/prices/{effective_from}", summary="Remove a price not yet in force")
async def delete_price(model_id: str, effective_from: date, request: Request) -> JSONResponse:
    state = admin_state(request)
    ref = PriceRef(model_id=model_id, effective_from=effective_from)
    model = await call_service(state, "catalog", bus.CATALOG_PRICE_DELETE, ref, AdminModel)
    return json_response(model)


@router.get("/models/{model_id:path}", summary="Get a model, retired or not")
async def get_model(model_id: str, request: Request) -> JSONResponse:
    state = admin_state(request)
    model = await call_service(state, "catalog", bus.CATALOG_MODEL_GET, ModelRef(model_id=model_id), AdminModel)
    return json_response(model)


@router.patch("/models/{model_id:path}", summary="Change a model; `retired: false` brings a retired one back")
async def update_model(model_id: str, request: Request) -> JSONResponse:
    state = admin_state(request)
    changes = await json_body(request, ModelChanges)
    update = ModelUpdate(model_id=model_id, **changes.model_dump(exclude_unset=True))
    model = await call_service(state, "catalog", bus.CATALOG_MODEL_UPDATE, update, AdminModel)
    return json_response(model)


@router.delete("/models/{model_id:path}", summary="Retire a model: it leaves `/v1/models` and takes no requests")
async def retire_model(model_id: str, request: Request) -> JSONResponse:
    state = admin_state(request)
    model = await call_service(state, "catalog", bus.CATALOG_MODEL_RETIRE, ModelRef(model_id=model_id), AdminModel)
    return json_response(model)


@router.get("/aliases", summary="List the model aliases")
async def list_aliases(request: Request) -> JSONResponse:
    state = admin_state(request)
    aliases = await call_service(state, "catalog", bus.CATALOG_ALIAS_LIST, AliasListRequest(), AliasList)
    return JSONResponse({"object": "list", **aliases.model_dump(mode="json")})


@router.put("/aliases/{alias}", summary="Point an alias, such as `fast`, at a model")
async def set_alias(alias: str, request: Request) -> JSONResponse:
    state = admin_state(request)
    target = await json_body(request, AliasTarget)
    body = validated(AliasSet, alias=alias, model=target.model)
    record = await call_service(state, "catalog", bus.CATALOG_ALIAS_SET, body, ModelAlias)
    return json_response(record)


@router.delete("/aliases/{alias}", summary="Delete an alias")
async def delete_alias(alias: str, request: Request) -> JSONResponse:
    state = admin_state(request)
    record = await call_service(state, "catalog", bus.CATALOG_ALIAS_DELETE, AliasRef(alias=alias), ModelAlias)
    return json_response(record)
