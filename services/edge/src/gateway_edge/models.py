"""`GET /v1/models` and `GET /v1/models/{id}`: the catalog in OpenAI's list format, extended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from gateway_contracts import CatalogEntry, catalog_key
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

router = APIRouter()


@router.get("/v1/models", summary="List the models")
async def list_models(request: Request) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    state.auth.api_key(request.headers.get("authorization"))
    entries = sorted(state.catalog.records.values(), key=lambda entry: entry.id)
    return JSONResponse({"object": "list", "data": [_describe(state, entry) for entry in entries]})


@router.get("/v1/models/{model_id:path}", summary="Retrieve a model")
async def retrieve_model(model_id: str, request: Request) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    state.auth.api_key(request.headers.get("authorization"))
    entry = state.catalog.get(catalog_key(model_id))
    if entry is None:
        raise EdgeError("model_not_found", f"The model `{model_id}` does not exist.", param="model")
    return JSONResponse(_describe(state, entry))


def _describe(state: EdgeState, entry: CatalogEntry) -> dict[str, Any]:
    status = state.providers.get(entry.provider)
    availability = status.mode if status is not None else "unconfigured"
    price = entry.price_at(datetime.now(UTC).date())
    return {
        "id": entry.id,
        "object": "model",
        "created": entry.created,
        "owned_by": entry.provider,
        "provider": entry.provider,
        "upstream_name": entry.upstream_name,
        "display_name": entry.display_name,
        "context_window": entry.context_window,
        "max_output_tokens": entry.max_output_tokens,
        "capabilities": entry.capabilities,
        "pricing": price.model_dump(mode="json") if price else None,
        # `emulated` models are answered by the local provider emulator
        # because the router has no credentials for their provider.
        "availability": availability,
        "emulated": availability == "emulated",
    }
