"""Usage carries every part the provider reports, in OpenAI's field names, streamed or not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RunningStack
from tests.providers import unique, words

THINKING = {"thinking": {"enabled": True, "budget_tokens": 2048}}


def usage_of(stack: RunningStack, model: str, content: str, stream: bool) -> dict[str, Any]:
    create = stack.client().chat.completions.create
    messages = [{"role": "user", "content": content}]
    if not stream:
        return create(model=model, messages=messages, extra_body=THINKING).usage.model_dump()
    chunks = list(
        create(model=model, messages=messages, stream=True, stream_options={"include_usage": True}, extra_body=THINKING)
    )
    return chunks[-1].usage.model_dump()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("model", "cache_write"),
    [
        ("anthropic/claude-sonnet-4", 3),
        ("google/gemini-2.5-flash", 0),
        ("deepseek/deepseek-r1", None),
        ("openrouter/anthropic/claude-sonnet-4", 3),
        ("openai/o4-mini", 3),
    ],
)
def test_usage_breakdown(stack: RunningStack, model: str, cache_write: int | None, stream: bool) -> None:
    """The emulator adds 4 prompt tokens read from the cache and 3 written to it, where the provider reports writes.

    DeepSeek reports no cache writes (`cache_write` None): its written tokens are plain input.
    """
    marker = unique("usage")
    content = f"Count {marker}\n#emulate cached=4 cache_write=3 reply=one two three\n#emulate thinking=a b c d e"

    usage = usage_of(stack, model, content, stream)

    # The emulator counts every word, directive lines included, plus three tokens
    # of framing, and adds the cached and written tokens.
    prompt = words(content) + 3 + 4 + 3
    assert usage["prompt_tokens"] == prompt
    assert usage["completion_tokens"] == 3 + 5
    assert usage["total_tokens"] == prompt + 8
    assert usage["prompt_tokens_details"]["cached_tokens"] == 4
    assert usage["prompt_tokens_details"]["cache_write_tokens"] == cache_write
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 5
