"""The worst-case cost of a chat request before it runs: reserved against its budgets, or shown by a dry run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from gateway_contracts import (
    BudgetRecord,
    CatalogEntry,
    ChatCompletionRequest,
    CredentialRecord,
    cost_range,
    worst_case_cost,
)
from gateway_contracts.budget import budget_day, resets_at
from gateway_contracts.money import plain_decimal
from gateway_contracts.pricing import is_fully_priced
from gateway_contracts.tokens import count_images, count_prompt, encoding_name, prompt_upper_bound
from gateway_edge.budgets import BudgetGate, Reservation
from gateway_edge.errors import EdgeError

# NOTE: a model whose catalog entry gives neither a maximum output nor a
# context window is assumed to stop at this many output tokens.
DEFAULT_MAX_OUTPUT_TOKENS = 32_768


@dataclass(frozen=True, slots=True)
class Estimate:
    """The parts of a request that its worst-case cost is computed from."""

    messages: list[dict[str, Any]]
    tools: Any
    prompt_bound: int
    max_output_tokens: int
    input_images: int
    worst_case_usd: Decimal


def estimate(entry: CatalogEntry, chat: ChatCompletionRequest, body: bytes, received_at: float) -> Estimate:
    """Bound the cost from above: prompt bound at the dearest input price, output limit at the dearest output price."""
    document = orjson.loads(body)
    messages = document.get("messages", [])
    tools = document.get("tools")
    prompt = prompt_upper_bound(messages, tools)
    max_output = output_limit(entry, chat)
    images = count_images(messages)
    price = entry.price_at(datetime.fromtimestamp(received_at, UTC).date())
    return Estimate(
        messages=messages,
        tools=tools,
        prompt_bound=prompt,
        max_output_tokens=max_output,
        input_images=images,
        worst_case_usd=worst_case_cost(price, prompt, max_output, images),
    )


def output_limit(entry: CatalogEntry, chat: ChatCompletionRequest) -> int:
    """Return the maximum number of output tokens the request can produce, over all of its `n` choices."""
    limit = chat.max_completion_tokens or chat.max_tokens or entry.max_output_tokens or entry.context_window
    return (limit or DEFAULT_MAX_OUTPUT_TOKENS) * (chat.n or 1)


async def admit(
    gate: BudgetGate,
    credential: CredentialRecord,
    entry: CatalogEntry,
    chat: ChatCompletionRequest,
    body: bytes,
    received_at: float,
) -> Reservation | None:
    """Reserve the request's worst case, or raise 402; None for a request that no cap applies to."""
    record = gate.record(credential.project_id or "")
    if record is None or (record.cap_usd is None and credential.key_id not in record.keys):
        return None
    if not is_fully_priced(entry.price_at(datetime.fromtimestamp(received_at, UTC).date())):
        # Without an input and an output price no worst case can be bounded,
        # so a capped budget could not stop the spend before it happens.
        raise EdgeError(
            "price_unknown",
            f"The model `{entry.id}` has no known input and output price, so {_capped_budgets(record, credential)} "
            "cannot be enforced for it. Use a priced model, or ask an operator to set its price or lift the cap.",
            param="model",
        )
    bound = estimate(entry, chat, body, received_at)
    return await gate.reserve(record, credential.key_id, bound.worst_case_usd, received_at)


def _capped_budgets(record: BudgetRecord, credential: CredentialRecord) -> str:
    """Name the daily budgets that apply to the request: its project's, its key's or both."""
    project = record.cap_usd is not None
    key = credential.key_id in record.keys
    if project and key:
        return "the daily budgets of this project and this key"
    return "this project's daily budget" if project else "this key's daily budget"


async def dry_run(
    gate: BudgetGate,
    credential: CredentialRecord,
    entry: CatalogEntry,
    chat: ChatCompletionRequest,
    body: bytes,
    received_at: float,
) -> dict[str, Any]:
    """Describe what the request would cost and whether its budget would admit it, without running it."""
    bound = estimate(entry, chat, body, received_at)
    encoding = encoding_name(entry.provider, entry.upstream_name)
    # Building the tokenizer takes about half a second the first time; keep it off the event loop.
    count = await asyncio.to_thread(count_prompt, bound.messages, bound.tools, encoding)
    price = entry.price_at(datetime.fromtimestamp(received_at, UTC).date())
    span = cost_range(price, count.tokens, bound.max_output_tokens, bound.input_images)
    return {
        "object": "chat.completion.dry_run",
        "model": entry.id,
        "prompt_tokens": count.tokens,
        "prompt_tokens_exact": count.exact,
        "token_count_method": count.method,
        "max_output_tokens": bound.max_output_tokens,
        "cost": {
            "currency": "USD",
            "min": plain_decimal(span.minimum),
            "max": plain_decimal(span.maximum),
            "priced": is_fully_priced(price),
        },
        "budget": await _budget_verdict(gate, credential, bound, received_at),
    }


async def _budget_verdict(
    gate: BudgetGate, credential: CredentialRecord, bound: Estimate, received_at: float
) -> dict[str, Any]:
    record = gate.record(credential.project_id or "")
    if record is None or (record.cap_usd is None and credential.key_id not in record.keys):
        return {"capped": False, "admitted": True}
    verdict = await gate.evaluate(record, credential.key_id, bound.worst_case_usd, received_at)
    day = budget_day(record.timezone, received_at)
    result: dict[str, Any] = {
        "capped": True,
        "admitted": verdict.admitted,
        # The reservation a real request would make: its prompt bound and full output limit.
        "reservation_usd": plain_decimal(bound.worst_case_usd),
        "resets_at": resets_at(record.timezone, day).isoformat().replace("+00:00", "Z"),
    }
    if verdict.remaining is not None:
        key = "remaining_usd" if verdict.admitted else "remaining_before_usd"
        result[key] = plain_decimal(max(verdict.remaining, Decimal(0)))
    if verdict.scope is not None:
        result["limited_by"] = verdict.scope
    return result
