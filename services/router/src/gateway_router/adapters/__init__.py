"""Provider adapters: each turns the OpenAI-shaped request into its provider's wire format and back."""

from gateway_router.adapters.base import Adapter, ParsedResponse, StreamPiece, UpstreamRequest
from gateway_router.adapters.openai import OpenAIAdapter

ADAPTERS: dict[str, Adapter] = {"openai": OpenAIAdapter()}

__all__ = ["ADAPTERS", "Adapter", "ParsedResponse", "StreamPiece", "UpstreamRequest"]
