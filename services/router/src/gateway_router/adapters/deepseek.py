"""DeepSeek: OpenAI's format with its own reasoning switch, reasoning round trip, usage and finish reason.

The `thinking` switch and `reasoning_effort` are written by the `deepseek`
dialect, and `reasoning_content` goes back only on tool-call turns, where
DeepSeek requires it. This adapter adds what differs beyond that: the API
takes text only; usage may report cache hits only as
`prompt_cache_hit_tokens`, which is copied to OpenAI's
`prompt_tokens_details.cached_tokens`; and `finish_reason:
"insufficient_system_resource"` means the generation was cut off for lack of
capacity, which is a failure.
"""

from __future__ import annotations

from typing import Any

from gateway_router.adapters.base import CallContext, UpstreamRequest
from gateway_router.adapters.openai import OpenAIAdapter
from gateway_router.errors import RequestRejected, UpstreamFailed

_CUT_OFF = "insufficient_system_resource"


class DeepSeekAdapter(OpenAIAdapter):
    def build_request(self, body: dict[str, Any], context: CallContext) -> UpstreamRequest:
        for index, message in enumerate(body.get("messages") or ()):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for position, part in enumerate(content):
                if part.get("type") != "text":
                    raise RequestRejected(
                        f"Provider `{context.route.spec.name}` takes only text; "
                        f"`{part.get('type')}` parts need another model.",
                        code="unsupported_parameter",
                        param=f"messages[{index}].content[{position}]",
                    )
        return super().build_request(body, context)

    def normalize_usage(self, usage: dict[str, Any]) -> bool:
        details = usage.get("prompt_tokens_details")
        hits = usage.get("prompt_cache_hit_tokens")
        if hits is None or (details and details.get("cached_tokens") is not None):
            return False
        usage["prompt_tokens_details"] = {**(details or {}), "cached_tokens": hits}
        return True

    def check_finish(self, choices: Any, context: CallContext) -> None:
        for choice in choices:
            if choice.get("finish_reason") == _CUT_OFF:
                raise UpstreamFailed(
                    f"Provider `{context.route.spec.name}` stopped the reply for lack of capacity "
                    f"(`{_CUT_OFF}`); retry shortly.",
                    code="upstream_overloaded",
                    retryable=True,
                )
