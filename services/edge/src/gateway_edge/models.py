"""`GET /v1/models` and `GET /v1/models/{id}`: the catalog in OpenAI's list format, extended.

Each model carries OpenAI's four fields (`id`, `object`, `created`,
`owned_by`), which the `openai` package reads, and the catalog's own:
capabilities, context window, prices and how the gateway reaches it. An alias
is listed as a model of its own whose `alias_for` names its target.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, get_args

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from gateway_contracts import CatalogEntry, ModelAlias
from gateway_contracts.records import Capability
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

router = APIRouter()

CAPABILITIES: tuple[str, ...] = get_args(Capability)


@router.get("/v1/models", summary="List the models and aliases, optionally filtered")
async def list_models(
    request: Request,
    capability: list[str] | None = Query(
        default=None,
        description="Only models with every one of these capabilities; repeat the parameter or separate with commas",
    ),
    provider: list[str] | None = Query(
        default=None, description="Only models of these providers; repeat the parameter or separate with commas"
    ),
) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    state.auth.api_key(request.headers.get("authorization"))
    wanted_capabilities = _capabilities(_split(capability))
    wanted_providers = set(_split(provider))

    def selected(entry: CatalogEntry) -> bool:
        if wanted_providers and entry.provider not in wanted_providers:
            return False
        return wanted_capabilities.issubset(entry.capabilities)

    aliases_of: dict[str, list[str]] = defaultdict(list)
    listed_aliases = list(state.models.live_aliases())
    for alias, entry in listed_aliases:
        aliases_of[entry.id].append(alias.alias)

    data = [
        _describe(state, entry, aliases=aliases_of[entry.id]) for entry in state.models.entries() if selected(entry)
    ]
    data += [_describe(state, entry, alias=alias) for alias, entry in listed_aliases if selected(entry)]
    return JSONResponse({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}", summary="Retrieve a model or an alias")
async def retrieve_model(model_id: str, request: Request) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    state.auth.api_key(request.headers.get("authorization"))
    entry = state.models.find(model_id)
    if entry is None:
        raise EdgeError("model_not_found", f"The model `{model_id}` does not exist.", param="model")
    if entry.id != model_id:
        alias = state.aliases.get(model_id)
        return JSONResponse(_describe(state, entry, alias=alias))
    aliases = [alias.alias for alias, target in state.models.live_aliases() if target.id == entry.id]
    return JSONResponse(_describe(state, entry, aliases=aliases))


def _split(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or () for item in value.split(",") if item.strip()]


def _capabilities(names: list[str]) -> set[str]:
    unknown = [name for name in names if name not in CAPABILITIES]
    if unknown:
        raise EdgeError(
            "invalid_request",
            f"Unknown capability `{unknown[0]}`; use one of " + ", ".join(f"`{name}`" for name in CAPABILITIES) + ".",
            param="capability",
        )
    return set(names)


def _describe(
    state: EdgeState, entry: CatalogEntry, *, alias: ModelAlias | None = None, aliases: list[str] | None = None
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    price = entry.price_at(today)
    return {
        "id": alias.alias if alias else entry.id,
        "object": "model",
        "created": entry.created,
        "owned_by": entry.provider,
        # The model an alias stands for; null for a model.
        "alias_for": entry.id if alias else None,
        "aliases": [] if alias else sorted(aliases or ()),
        "provider": entry.provider,
        "upstream_name": entry.upstream_name,
        "display_name": entry.display_name,
        "context_window": entry.context_window,
        "max_output_tokens": entry.max_output_tokens,
        "capabilities": entry.capabilities,
        "reasoning": entry.reasoning.model_dump(mode="json") if entry.reasoning else None,
        # USD per million tokens as decimal strings; null where unknown.
        "pricing": price.model_dump(mode="json") if price else None,
        "scheduled_pricing": [
            scheduled.model_dump(mode="json") for scheduled in entry.prices if scheduled.effective_from > today
        ],
        **_availability(state, entry),
    }


def _availability(state: EdgeState, entry: CatalogEntry) -> dict[str, Any]:
    # A custom model is called at its own base URL, whatever its provider's status.
    if entry.base_url is not None:
        return {"availability": "custom", "emulated": False}
    status = state.providers.get(entry.provider)
    availability = status.mode if status is not None else "unconfigured"
    # `emulated` models are answered by the local provider emulator
    # because the router has no credentials for their provider.
    return {"availability": availability, "emulated": availability == "emulated"}
