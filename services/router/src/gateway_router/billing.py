"""The cost of a finished request, its usage event, and the cost added to the reply."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from gateway_contracts import COST_PARTS, CatalogEntry, CostBreakdown, Price, TokenUsage, UsageEvent, price_usage
from gateway_contracts.money import plain_decimal
from gateway_contracts.tokens import count_images, count_prompt, count_text, encoding_name
from gateway_router.job import Job, Outcome


def price_outcome(job: Job, outcome: Outcome) -> CostBreakdown:
    """Price the provider's usage with the price in force on the request's UTC day, once."""
    assert outcome.usage is not None
    if outcome.usage.input_images == 0 and outcome.body is not None:
        images = count_images(outcome.body.get("messages", []))
        if images:
            outcome.usage = outcome.usage.model_copy(update={"input_images": images})
    outcome.cost = price_usage(outcome.usage, price_at(outcome.entry, job.meta["received_at"]))
    return outcome.cost


def usage_event(job: Job, outcome: Outcome) -> UsageEvent:
    meta = job.meta
    finished = time.time()
    if outcome.usage is not None:
        usage = outcome.usage
        cost = outcome.cost or price_outcome(job, outcome)
    else:
        usage = estimate_usage(outcome)
        cost = price_usage(usage, price_at(outcome.entry, meta["received_at"]), estimated=True)
    ttft = None
    if outcome.first_token_at is not None:
        ttft = max((outcome.first_token_at - meta["received_at"]) * 1000, 0.0)
    provider = ""
    if outcome.route is not None:
        provider = outcome.route.spec.name
    elif outcome.entry is not None:
        provider = outcome.entry.provider
    # Validated although every value is the router's own: model_construct() took 5.1 us against 3.9 us,
    # and its result serialized slower too (pydantic 2.14.4).
    return UsageEvent(
        request_id=meta["request_id"],
        project_id=meta["project_id"],
        key_id=meta["key_id"],
        # The model that served the request, which differs from the requested one after a fallback.
        model=outcome.entry.id if outcome.entry else meta["model"],
        provider=provider,
        upstream_model=outcome.upstream_model or "",
        status=outcome.status,
        http_status=outcome.http_status,
        error_code=outcome.error_code,
        stream=meta["stream"],
        emulated=bool(outcome.route and outcome.route.emulated),
        session_id=meta.get("session_id"),
        usage=usage,
        cost=cost,
        started_at=datetime.fromtimestamp(meta["received_at"], UTC),
        finished_at=datetime.fromtimestamp(finished, UTC),
        latency_ms=max((finished - meta["received_at"]) * 1000, 0.0),
        ttft_ms=ttft,
        reserved_project_usd=Decimal(meta.get("reserved_project_usd", "0")),
        reserved_key_usd=Decimal(meta.get("reserved_key_usd", "0")),
    )


def estimate_usage(outcome: Outcome) -> TokenUsage:
    """Count the tokens of a request whose provider reported no usage.

    This happens when a stream is cancelled or fails before its usage chunk:
    the prompt and what was streamed so far are counted with the model's
    tokenizer where one ships, estimated otherwise. A request that failed
    before the upstream sent anything is not charged.
    """
    if outcome.route is None or outcome.body is None or outcome.entry is None:
        return TokenUsage()
    if outcome.status == "error" and outcome.reply.chunks == 0:
        return TokenUsage()
    encoding = encoding_name(outcome.entry.provider, outcome.entry.upstream_name)
    messages = outcome.body.get("messages", [])
    prompt = count_prompt(messages, outcome.body.get("tools"), encoding).tokens
    completion = count_text(outcome.reply.output_text(), encoding).tokens if outcome.reply.has_output else 0
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        input_images=count_images(messages),
    )


def price_at(entry: CatalogEntry | None, received_at: float) -> Price | None:
    return entry.price_at(datetime.fromtimestamp(received_at, UTC).date()) if entry else None


def cost_json(cost: CostBreakdown) -> dict[str, Any]:
    """Render the cost as the response's `usage.cost`, every amount an exact decimal string."""
    document: dict[str, Any] = {"currency": cost.currency}
    for part in (*COST_PARTS, "total"):
        # Fixed-point text, as in the events: `1E-7` is exact too, but not every client parses it.
        document[part] = plain_decimal(getattr(cost, part))
    if cost.estimated:
        document["estimated"] = True
    if cost.incomplete:
        document["incomplete"] = True
    return document


def body_with_cost(data: bytes, cost: CostBreakdown, document: dict[str, Any] | None = None) -> bytes:
    """Add `usage.cost` to a `chat.completion` body; a body without `usage` is returned as it is.

    `document` is `data` already parsed, which is then changed in place instead of parsing `data` again.
    """
    completion = orjson.loads(data) if document is None else document
    usage = completion.get("usage") if isinstance(completion, dict) else None
    if not isinstance(usage, dict):
        return data
    usage["cost"] = cost_json(cost)
    return orjson.dumps(completion)


def chunk_with_cost(chunk: dict[str, Any], cost: CostBreakdown) -> bytes:
    """Serialize the stream's usage chunk with `usage.cost` added."""
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        usage["cost"] = cost_json(cost)
    return orjson.dumps(chunk)
