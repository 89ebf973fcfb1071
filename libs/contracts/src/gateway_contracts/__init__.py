"""Schemas shared by the Generative Gateway services and by event subscribers."""

from gateway_contracts import bus
from gateway_contracts.chat import (
    GATEWAY_FIELDS,
    ChatCompletionRequest,
    ChatMessage,
    RequestProblem,
    describe_validation_error,
)
from gateway_contracts.errors import ERROR_CODES, ERROR_KINDS, ErrorBody, ErrorCode, error_body, status_for
from gateway_contracts.events import (
    CostBreakdown,
    RequestStatus,
    SessionTurn,
    SessionTurnsEvent,
    TokenUsage,
    UsageEvent,
    event_id,
)
from gateway_contracts.frames import (
    DONE_FRAME,
    HEARTBEAT_FRAME,
    DispatchMeta,
    ErrorFrame,
    FrameKind,
    decode_dispatch,
    encode_dispatch,
    encode_error_frame,
    encode_frame,
)
from gateway_contracts.records import (
    Capability,
    CatalogEntry,
    CredentialRecord,
    Price,
    ProviderStatus,
    ReasoningSpec,
    catalog_key,
)

__all__ = [
    "DONE_FRAME",
    "ERROR_CODES",
    "ERROR_KINDS",
    "GATEWAY_FIELDS",
    "HEARTBEAT_FRAME",
    "Capability",
    "CatalogEntry",
    "ChatCompletionRequest",
    "ChatMessage",
    "CostBreakdown",
    "CredentialRecord",
    "DispatchMeta",
    "ErrorBody",
    "ErrorCode",
    "ErrorFrame",
    "FrameKind",
    "Price",
    "ProviderStatus",
    "ReasoningSpec",
    "RequestProblem",
    "RequestStatus",
    "SessionTurn",
    "SessionTurnsEvent",
    "TokenUsage",
    "UsageEvent",
    "bus",
    "catalog_key",
    "decode_dispatch",
    "describe_validation_error",
    "encode_dispatch",
    "encode_error_frame",
    "encode_frame",
    "error_body",
    "event_id",
    "status_for",
]
