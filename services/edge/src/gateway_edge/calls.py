"""Request/reply calls from the edge to the internal services, with errors in the edge's terms."""

from __future__ import annotations

from typing import TypeVar

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel

from gateway_contracts.rpc import RpcError
from gateway_contracts.rpc_nats import call
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

Reply = TypeVar("Reply", bound=BaseModel)


async def call_service(
    state: EdgeState, service: str, subject: str, request: BaseModel, reply_model: type[Reply]
) -> Reply:
    """Call `subject`; an absent or silent service is a 503, a refusal keeps its error code."""
    try:
        reply = await call(state.nc, subject, request, reply_model, state.settings.service_timeout_seconds)
    except (NoRespondersError, NatsTimeoutError):
        raise EdgeError("service_unavailable", f"The {service} service did not answer; retry shortly.") from None
    if isinstance(reply, RpcError):
        raise EdgeError(reply.code, reply.message, param=reply.param)
    return reply
