"""`POST /v1/chat/completions`: authenticate, validate once, dispatch to a router, relay the reply."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive

from gateway_contracts import (
    ChatCompletionRequest,
    DispatchMeta,
    FrameKind,
    describe_validation_error,
)
from gateway_contracts.telemetry import REQUEST_ID
from gateway_edge import metrics
from gateway_edge.admission import admit, dry_run
from gateway_edge.budgets import BUDGET_HEADER, Reservation
from gateway_edge.capabilities import check_capabilities
from gateway_edge.errors import EdgeError, raw_error_response
from gateway_edge.limits import check_context_window, check_output_limit
from gateway_edge.observability import observe_chat, observe_error
from gateway_edge.reasoning import check_reasoning, resolve_model
from gateway_edge.router_client import Exchange, Frame, RouterClient
from gateway_edge.session_context import prepend_history, session_of
from gateway_edge.state import EdgeState
from gateway_edge.streaming import EventStreamResponse

router = APIRouter()
logger = logging.getLogger("gateway_edge.chat")

_DRY_RUN_HEADER = "x-gateway-dry-run"

_REQUEST_SCHEMA = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")


@router.post(
    "/v1/chat/completions",
    summary="Create a chat completion",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST_SCHEMA}}}},
)
async def chat_completions(request: Request) -> Response:
    state: EdgeState = request.app.state.edge
    received_at = time.time()
    observe_chat()
    credential = state.auth.api_key(request.headers.get("authorization"))
    body = await read_body(request, state.settings.max_body_bytes)
    chat = parse_chat_request(body)

    # An alias resolves here, so the router and the usage events see only catalog ids.
    entry, suffix = resolve_model(state.models, chat.model)
    observe_chat(entry, stream=chat.stream)
    fallbacks = [
        resolve_model(state.models, model, f"models[{index}]")[0] for index, model in enumerate(chat.models or ())
    ]
    for candidate in (entry, *fallbacks):
        check_capabilities(chat, candidate, state.models)
    check_reasoning(chat, suffix, [entry, *fallbacks])
    check_output_limit(entry, chat)
    await check_context_window(entry, chat)

    # The middleware named the request; outside it (in unit tests of this handler) a new id is made.
    request_id = REQUEST_ID.get() or f"req_{uuid.uuid4().hex}"
    if state.settings.log_content:
        logger.debug("Request %s body: %s", request_id, body.decode(errors="replace"))
    meta: DispatchMeta = {
        "request_id": request_id,
        "project_id": credential.project_id or "",
        "key_id": credential.key_id,
        "model": entry.id,
        "stream": chat.stream,
        "include_usage": chat.include_usage,
        "received_at": received_at,
    }
    if chat.stream:
        meta["chunk_batches"] = True
    headers = {"x-request-id": request_id}
    session = session_of(chat, request)
    if session is not None:
        body, session_headers = await prepend_history(state, credential, chat, session, body, meta)
        headers.update(session_headers)
    if chat.dry_run or request.headers.get(_DRY_RUN_HEADER, "").lower() in ("1", "true"):
        report = await dry_run(state.budgets, credential, entry, chat, body, received_at)
        return Response(orjson.dumps(report), media_type="application/json", headers={"x-request-id": request_id})

    try:
        reservation = await admit(state.budgets, credential, entry, chat, body, received_at)
    except EdgeError as error:
        if error.code == "budget_exceeded" and error.budget is not None:
            project = (credential.project_id or "") if state.settings.metrics_project_labels else ""
            metrics.BUDGET_REJECTIONS.labels(project, str(error.budget["scope"])).inc()
        raise
    if reservation is not None:
        meta["reserved_project_usd"] = format(reservation.project_usd, "f")
        meta["reserved_key_usd"] = format(reservation.key_usd, "f")
        headers[BUDGET_HEADER] = format(reservation.remaining_usd, "f")

    exchange = await dispatch(state, meta, body, reservation)
    # One task per request notices a disconnect, for the first frame and, when streaming, the rest.
    watcher = watch_disconnect(state.router, exchange, request.receive)
    try:
        first = await next_output_frame(state.router, exchange)
    except BaseException as error:
        watcher.cancel()
        if reservation is not None and _never_dispatched(error):
            # No router was subscribed, so nothing ran and no usage event will settle it.
            await state.budgets.release(reservation)
        raise
    if first is None:
        # The client went away before the reply started; nobody reads a response.
        return Response(status_code=499)

    if first.kind is FrameKind.ERROR or not chat.stream:
        watcher.cancel()
        state.router.finish(exchange)
    if first.kind is FrameKind.ERROR:
        return _error_from_frame(first, headers)
    if not chat.stream:
        return Response(first.payload, media_type="application/json", headers=headers)
    return EventStreamResponse(
        state.router, exchange, first, [(key.encode(), value.encode()) for key, value in headers.items()], watcher
    )


def _never_dispatched(error: BaseException) -> bool:
    return isinstance(error, EdgeError) and error.code == "router_unavailable" and error.status == 503


async def dispatch(state: EdgeState, meta: DispatchMeta, body: bytes, reservation: Reservation | None) -> Exchange:
    """Send the request to the routers, giving its budget reservation back when the send fails."""
    try:
        return await state.router.dispatch(meta, body)
    except BaseException:
        if reservation is not None:
            await asyncio.shield(state.budgets.release(reservation))
        raise


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, rejecting it with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    try:
        return ChatCompletionRequest.model_validate_json(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise EdgeError("invalid_json", f"The request body is not valid JSON: {first['msg']}.") from None
        problem = describe_validation_error(error)
        raise EdgeError("invalid_request", problem.message, param=problem.param) from None


def _too_large(limit: int) -> EdgeError:
    return EdgeError(
        "payload_too_large",
        f"The request body is larger than the gateway's limit of {limit} bytes (`GATEWAY_MAX_BODY_BYTES`).",
    )


async def first_frame(router_client: RouterClient, exchange: Exchange, receive: Receive) -> Frame | None:
    """Wait for the first frame that is not a heartbeat, or return None if the client disconnects first."""
    watcher = watch_disconnect(router_client, exchange, receive)
    try:
        return await next_output_frame(router_client, exchange)
    finally:
        watcher.cancel()


async def next_output_frame(router_client: RouterClient, exchange: Exchange) -> Frame | None:
    """Wait for the next frame that is not a heartbeat, or None once the client disconnected.

    Publishes a cancel to the routers when the client disconnected or the wait failed.
    """
    try:
        while True:
            frame = await router_client.next_frame(exchange)
            if frame is None:
                await router_client.cancel(exchange)
                return None
            if frame.kind is not FrameKind.HEARTBEAT:
                return frame
    except BaseException:
        await router_client.cancel(exchange)
        raise


def watch_disconnect(router_client: RouterClient, exchange: Exchange, receive: Receive) -> asyncio.Task[None]:
    """Start a task that ends the exchange's frames once the client disconnects; cancel it when done."""
    return asyncio.ensure_future(_wait_for_disconnect(router_client, exchange, receive))


async def _wait_for_disconnect(router_client: RouterClient, exchange: Exchange, receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    router_client.client_disconnected(exchange)


def _error_from_frame(frame: Frame, headers: dict[str, str]) -> Response:
    error = orjson.loads(frame.payload)
    observe_error(str(error["error"]["error"]["code"]))
    retry_after = error.get("retry_after")
    if retry_after is not None:
        headers = {**headers, "retry-after": str(max(1, round(retry_after)))}
    return raw_error_response(int(error["status"]), error["error"], headers)
