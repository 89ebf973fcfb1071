"""Both ends of the request/reply calls in `rpc`, over a NATS connection.

A call carries the caller's trace context and request id in its headers,
and the handler runs in a server span under it, with `REQUEST_ID` set. Handled calls are counted in
`gateway_rpc_requests_total` and timed in `gateway_rpc_duration_seconds`.

Needs the `nats` extra.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, ValidationError

from gateway_contracts.metrics import RPC_DURATION, RPC_REQUESTS
from gateway_contracts.rpc import RpcError, encode_error, parse_reply
from gateway_contracts.telemetry import (
    REQUEST_ID,
    REQUEST_ID_HEADER,
    context_from_headers,
    trace_headers,
    tracer,
    tracing_enabled,
)

logger = logging.getLogger("gateway_contracts.rpc")
_tracer = tracer("gateway_contracts.rpc")

Request = TypeVar("Request", bound=BaseModel)
Reply = TypeVar("Reply", bound=BaseModel)


class RpcRejected(Exception):
    """Raised by a handler to answer with an `RpcError` of its choosing."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(error.message)
        self.error = error


async def respond(
    nc: NATS,
    subject: str,
    queue: str,
    request_model: type[Request],
    handler: Callable[[Request], Awaitable[BaseModel]],
) -> Subscription:
    """Answer calls on `subject` in queue group `queue` with `handler`'s result.

    A request that does not validate gets an `invalid_request` error, and a
    handler failure an `internal_error`, logged here once.
    """

    async def answer(msg: Msg) -> str:
        """Handle one call and publish its reply; return the outcome for the metrics."""
        try:
            request = request_model.model_validate_json(msg.data)
        except ValidationError as error:
            await nc.publish(msg.reply, encode_error("invalid_request", f"Invalid {request_model.__name__}: {error}"))
            return "invalid"
        try:
            result = await handler(request)
        except RpcRejected as rejected:
            error = rejected.error
            await nc.publish(msg.reply, encode_error(error.code, error.message, error.param))
            return "rejected"
        except Exception:
            logger.error("Handling %s on %s failed", request_model.__name__, subject, exc_info=True)
            await nc.publish(msg.reply, encode_error("internal_error", f"Handling {request_model.__name__} failed."))
            return "error"

        payload = result.model_dump_json().encode()
        if len(payload) > nc.max_payload:
            logger.error(
                "Reply to %s on %s is %d bytes, over the server's max_payload of %d",
                request_model.__name__,
                subject,
                len(payload),
                nc.max_payload,
            )
            payload = encode_error(
                "payload_too_large",
                f"The reply is {len(payload)} bytes, more than one NATS message can carry ({nc.max_payload}).",
            )
        await nc.publish(msg.reply, payload)
        return "ok"

    requests = {outcome: RPC_REQUESTS.labels(subject, outcome) for outcome in ("ok", "rejected", "invalid", "error")}
    duration = RPC_DURATION.labels(subject)

    async def handle(msg: Msg) -> None:
        if not msg.reply:
            return
        started = time.perf_counter()
        request_id = msg.headers.get(REQUEST_ID_HEADER) if msg.headers else None
        token = REQUEST_ID.set(request_id)
        try:
            outcome = await traced_answer(msg)
        finally:
            REQUEST_ID.reset(token)
        requests[outcome].inc()
        duration.observe(time.perf_counter() - started)

    async def traced_answer(msg: Msg) -> str:
        if tracing_enabled():
            with _tracer.start_as_current_span(
                subject, context=context_from_headers(msg.headers), kind=SpanKind.SERVER
            ) as span:
                outcome = await answer(msg)
                span.set_attribute("gateway.rpc.outcome", outcome)
                if outcome == "error":
                    span.set_status(Status(StatusCode.ERROR))
                return outcome
        return await answer(msg)

    return await nc.subscribe(subject, queue=queue, cb=handle)


async def call(
    nc: NATS, subject: str, request: BaseModel, reply_model: type[Reply], timeout: float
) -> Reply | RpcError:
    """Send `request` and decode the reply; NATS timeouts and no-responder errors propagate.

    Fields the caller left unset stay unset on the wire, so that the handler
    can tell "leave as it is" from an explicit null in partial updates.
    """
    payload = request.model_dump_json(exclude_unset=True).encode()
    request_id = REQUEST_ID.get()
    headers = trace_headers({REQUEST_ID_HEADER: request_id} if request_id else None)
    msg = await nc.request(subject, payload, timeout=timeout, headers=headers)
    return parse_reply(msg.data, reply_model)
