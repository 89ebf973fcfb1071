"""The assistant's reply rebuilt from stream chunks, for the session history."""

from __future__ import annotations

from typing import Any


class ReplyAccumulator:
    """Collects the first choice's content, reasoning with what must go back upstream, images and tool calls."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.thinking_blocks: list[dict[str, Any]] = []
        self.reasoning_details: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.chunks = 0

    def add(self, chunk: dict[str, Any]) -> None:
        self.chunks += 1
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            if delta.get("reasoning_content"):
                self.reasoning.append(delta["reasoning_content"])
            self.thinking_blocks.extend(delta.get("thinking_blocks") or ())
            self.reasoning_details.extend(delta.get("reasoning_details") or ())
            self.images.extend(delta.get("images") or ())
            for call in delta.get("tool_calls") or ():
                self._add_tool_call(call)

    @property
    def has_output(self) -> bool:
        return bool(self.content or self.reasoning or self.tool_calls or self.thinking_blocks or self.images)

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.thinking_blocks:
            message["thinking_blocks"] = self.thinking_blocks
        if self.reasoning_details:
            message["reasoning_details"] = self.reasoning_details
        if self.images:
            message["images"] = self.images
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[index] for index in sorted(self.tool_calls)]
        return message

    def output_text(self) -> str:
        """Every generated character, for estimating tokens when no usage arrived."""
        arguments = "".join(call["function"]["arguments"] for call in self.tool_calls.values())
        return "".join(self.reasoning) + "".join(self.content) + arguments

    def _add_tool_call(self, delta: dict[str, Any]) -> None:
        index = int(delta.get("index", 0))
        call = self.tool_calls.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("extra_content"):
            call["extra_content"] = delta["extra_content"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]
