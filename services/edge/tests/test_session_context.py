"""Fitting a session's history into the model's context window."""

from __future__ import annotations

import pytest

from gateway_contracts.rpc import HistoryReply
from gateway_edge.errors import EdgeError
from gateway_edge.session_context import ContextLimit, fit_history

SYSTEM = {"role": "system", "content": "be brief"}


def exchange(index: int) -> list[dict[str, object]]:
    return [{"role": "user", "content": f"q{index}"}, {"role": "assistant", "content": f"a{index}"}]


def history(messages: list[dict[str, object]], tokens: list[int]) -> HistoryReply:
    return HistoryReply(messages=messages, tokens=tokens, head_turn_id=None)


NEW = [{"role": "user", "content": "x" * 40}]  # 13 estimated tokens


def limit(window: int | None, drop: bool = False, output: int = 0) -> ContextLimit:
    return ContextLimit(model="m/x", window=window, output_tokens=output, drop_oldest=drop)


def test_history_that_fits_is_kept_whole() -> None:
    messages = [SYSTEM, *exchange(1)]

    assert fit_history(history(messages, [10, 10, 10]), NEW, limit(43)) == messages


def test_unknown_window_keeps_everything() -> None:
    messages = exchange(1)

    assert fit_history(history(messages, [10**9, 10**9]), NEW, limit(None)) == messages


def test_too_long_is_rejected_with_counts() -> None:
    with pytest.raises(EdgeError) as caught:
        fit_history(history(exchange(1), [50, 50]), NEW, limit(100, output=20))

    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages"
    assert "about 100 tokens" in caught.value.message
    assert "about 13 tokens" in caught.value.message
    assert "`max_tokens` 20" in caught.value.message
    assert "100-token context window of `m/x`" in caught.value.message
    assert "session_truncation" in caught.value.message


def test_dropping_keeps_instructions_and_starts_at_user() -> None:
    messages = [SYSTEM, *exchange(1), *exchange(2), *exchange(3)]
    tokens = [5, 10, 10, 10, 10, 10, 10]

    kept = fit_history(history(messages, tokens), NEW, limit(5 + 13 + 25, drop=True))

    assert kept == [SYSTEM, *exchange(3)]


def test_dropping_skips_tool_results_of_dropped_calls() -> None:
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {"name": "f"}}]}
    result = {"role": "tool", "tool_call_id": "c", "content": "42"}
    messages = [{"role": "user", "content": "q"}, call, result, {"role": "assistant", "content": "a"}, *exchange(2)]
    tokens = [10, 10, 1, 1, 10, 10]

    kept = fit_history(history(messages, tokens), NEW, limit(13 + 21, drop=True))

    assert kept == exchange(2)


def test_new_messages_alone_too_long_even_when_dropping() -> None:
    with pytest.raises(EdgeError) as caught:
        fit_history(history(exchange(1), [1, 1]), NEW, limit(10, drop=True))

    assert caught.value.code == "context_length_exceeded"
    assert "does not make the new messages fit" in caught.value.message
