"""Provider adapters: each turns the OpenAI-shaped request into its provider's wire format and back."""

from gateway_router.adapters.anthropic import AnthropicAdapter
from gateway_router.adapters.base import Adapter, CallContext, ParsedResponse, StreamPiece, UpstreamRequest
from gateway_router.adapters.deepseek import DeepSeekAdapter
from gateway_router.adapters.gemini import GeminiAdapter
from gateway_router.adapters.openai import OpenAIAdapter

ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "deepseek": DeepSeekAdapter(),
}

__all__ = ["ADAPTERS", "Adapter", "CallContext", "ParsedResponse", "StreamPiece", "UpstreamRequest"]
