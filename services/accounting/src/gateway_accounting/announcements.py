"""The public events that accounting publishes: usage recorded, API keys and project budgets.

Usage events go out before the batch that recorded them is acked, so a
crash in between redelivers the batch and publishes them again under the
same `event_id`. Admin events go out after the change is committed; a
failed publish is logged and the change remains, without its event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from datetime import datetime

import msgspec
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from gateway_accounting.decoding import CostParts, TokenCounts, Usage, UsageRecord
from gateway_contracts import COST_PARTS, CostBreakdown, TokenUsage
from gateway_contracts.envelope import trace_id_for
from gateway_contracts.money import plain_decimal
from gateway_contracts.public_events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    ProjectBudgetChanged,
    RecordedCost,
    RecordedTokens,
    UsageRecorded,
)
from gateway_contracts.publishing import PUBLISH_TIMEOUT_SECONDS, build_event, publish_event
from gateway_contracts.rpc import KeyInfo, Project

logger = logging.getLogger("gateway_accounting.announcements")


def usage_recorded(event: Usage, traceparent: str | None) -> UsageRecorded:
    """Build the public event of one recorded request; `traceparent` is the router's, when tracing is on."""
    return build_event(
        UsageRecorded,
        event_id=f"usage.recorded:{event.request_id}",
        request_id=event.request_id,
        project_id=event.project_id,
        trace_id=trace_id_for(event.request_id, traceparent),
        occurred_at=event.finished_at,
        **{name: getattr(event, name) for name in _USAGE_FIELDS},
        usage=RecordedTokens.model_construct(**{name: getattr(event.usage, name) for name in _TOKEN_FIELDS}),
        cost=RecordedCost.model_construct(**{name: getattr(event.cost, name) for name in _COST_FIELDS}),
    )


_USAGE_FIELDS = (
    "key_id",
    "model",
    "provider",
    "upstream_model",
    "status",
    "http_status",
    "error_code",
    "stream",
    "emulated",
    "session_id",
    "started_at",
    "finished_at",
    "latency_ms",
    "ttft_ms",
)


# Usage events arrive as msgspec structs, which have no `__dict__`, so the fields are read by name.
_TOKEN_FIELDS = tuple(TokenUsage.model_fields)
_COST_FIELDS = tuple(CostBreakdown.model_fields)


class _RecordedCostJson(msgspec.Struct, gc=False):
    """`RecordedCost` with its amounts as the contract writes them: plain decimal strings (`plain_decimal`)."""

    currency: str
    input: str
    cached_input: str
    cache_write: str
    output: str
    reasoning: str
    audio_input: str
    audio_output: str
    image_input: str
    image_output: str
    request: str
    total: str
    estimated: bool
    incomplete: bool


class _UsageRecordedJson(msgspec.Struct, gc=False):
    """The JSON of a `UsageRecorded` event, with the contract's fields, encoded by msgspec.

    Building the pydantic model and dumping it took 29% of the consumer's CPU
    (py-spy, `bench/accounting_ingest.py`, batch 5000). A test checks that
    both give the same JSON and list the same fields.
    """

    schema_name: str
    schema_version: int
    event_id: str
    request_id: str
    project_id: str
    occurred_at: datetime
    trace_id: str
    key_id: str
    model: str
    provider: str
    upstream_model: str
    status: str
    http_status: int
    error_code: str | None
    stream: bool
    emulated: bool
    session_id: str | None
    usage: TokenCounts
    cost: _RecordedCostJson
    started_at: datetime
    finished_at: datetime
    latency_ms: float
    ttft_ms: float | None


_AMOUNT_FIELDS = (*COST_PARTS, "total")
_SCHEMA_NAME = UsageRecorded.model_fields["schema_name"].default
_SCHEMA_VERSION = UsageRecorded.model_fields["schema_version"].default
_encoder = msgspec.json.Encoder()


def _cost_json(cost: CostParts) -> _RecordedCostJson:
    amounts = {part: plain_decimal(getattr(cost, part)) for part in _AMOUNT_FIELDS}
    return _RecordedCostJson(currency=cost.currency, estimated=cost.estimated, incomplete=cost.incomplete, **amounts)


def usage_recorded_batch(events: Sequence[tuple[Msg, UsageRecord]]) -> list[tuple[str, bytes]]:
    """Return the `Nats-Msg-Id` and payload of the public event of each usage event in a batch."""
    encoded = []
    for message, event in events:
        traceparent = message.headers.get("traceparent") if message.headers else None
        event_id = f"usage.recorded:{event.request_id}"
        payload = _UsageRecordedJson(
            schema_name=_SCHEMA_NAME,
            schema_version=_SCHEMA_VERSION,
            event_id=event_id,
            request_id=event.request_id,
            project_id=event.project_id,
            occurred_at=event.finished_at,
            trace_id=trace_id_for(event.request_id, traceparent),
            key_id=event.key_id,
            model=event.model,
            provider=event.provider,
            upstream_model=event.upstream_model,
            status=event.status,
            http_status=event.http_status,
            error_code=event.error_code,
            stream=event.stream,
            emulated=event.emulated,
            session_id=event.session_id,
            usage=event.usage,
            cost=_cost_json(event.cost),
            started_at=event.started_at,
            finished_at=event.finished_at,
            latency_ms=event.latency_ms,
            ttft_ms=event.ttft_ms,
        )
        encoded.append((event_id, _encoder.encode(payload)))
    return encoded


class UsageRecordedPublisher:
    """A publisher of `UsageRecorded` events that waits until JetStream has stored every one.

    Each event goes out with a plain publish whose reply subject is under one
    inbox of this publisher, where one subscription counts JetStream's acks.
    nats-py's `publish_async` did the same with a task, a future and a
    semaphore acquire per event, which was 28% of the consumer's CPU in the
    profile of `bench/accounting_ingest.py` at 5,000 events per batch.
    """

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._subscription: Subscription | None = None
        self._batches: dict[str, _BatchAcks] = {}
        self._count = itertools.count()

    async def publish(self, encoded: Sequence[tuple[str, bytes]]) -> None:
        """Publish encoded events; raise `TimeoutError`, or `PublishFailed` on a rejected one."""
        if not encoded:
            return
        if self._subscription is None:
            self._subscription = await self._nc.subscribe(f"{self._prefix}.>", cb=self._receive_ack)
        batch_id = str(next(self._count))
        acks = _BatchAcks(len(encoded))
        self._batches[batch_id] = acks
        try:
            for index, (event_id, payload) in enumerate(encoded):
                reply = f"{self._prefix}.{batch_id}.{index}"
                await self._nc.publish(UsageRecorded.subject, payload, reply=reply, headers={"Nats-Msg-Id": event_id})
            await asyncio.wait_for(acks.done, PUBLISH_TIMEOUT_SECONDS)
        finally:
            # Acks that arrive later find no batch and are dropped.
            del self._batches[batch_id]

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _receive_ack(self, message: Msg) -> None:
        batch_id, _, index = message.subject[len(self._prefix) + 1 :].partition(".")
        acks = self._batches.get(batch_id)
        if acks is None or acks.done.done():
            return
        # When no stream stores the subject, the server sends a status message (503, no responders) instead of an ack.
        status = message.headers.get("Status") if message.headers else None
        if status is not None:
            acks.done.set_exception(
                PublishFailed(
                    f"Publishing usage.recorded failed with status {status}; check that a stream stores "
                    f"`{UsageRecorded.subject}`"
                )
            )
            return
        reply = orjson.loads(message.data)
        if "error" in reply:
            acks.done.set_exception(PublishFailed(f"JetStream rejected usage.recorded event {index}: {reply['error']}"))
            return
        acks.acknowledged()


class PublishFailed(Exception):
    """JetStream rejected a published event, or no stream stores its subject."""


class _BatchAcks:
    def __init__(self, expected: int) -> None:
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting = expected

    def acknowledged(self) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self.done.set_result(None)


async def announce_key_created(js: JetStreamContext, key: KeyInfo) -> None:
    event = build_event(
        ApiKeyCreated,
        event_id=f"api_key.created:{key.id}",
        project_id=key.project_id,
        occurred_at=key.created_at,
        key_id=key.id,
        name=key.name,
        prefix=key.prefix,
        daily_budget_usd=key.daily_budget_usd,
    )
    await _publish(js, event)


async def announce_key_revoked(js: JetStreamContext, key: KeyInfo) -> None:
    assert key.revoked_at is not None
    event = build_event(
        ApiKeyRevoked,
        event_id=f"api_key.revoked:{key.id}",
        project_id=key.project_id,
        occurred_at=key.revoked_at,
        key_id=key.id,
        revoked_at=key.revoked_at,
    )
    await _publish(js, event)


async def announce_budget_changed(js: JetStreamContext, project: Project) -> None:
    event = build_event(
        ProjectBudgetChanged,
        # One event per admin call: the request id distinguishes two changes of one project.
        event_id="",
        project_id=project.id,
        daily_budget_usd=project.daily_budget_usd,
        timezone=project.timezone,
        budget_alert_threshold=project.budget_alert_threshold,
    )
    event.event_id = f"project.budget_changed:{event.request_id}"
    await _publish(js, event)


async def _publish(js: JetStreamContext, event: ApiKeyCreated | ApiKeyRevoked | ProjectBudgetChanged) -> None:
    try:
        await publish_event(js, event)
    except Exception:
        logger.error("Publishing %s for project %s failed", event.event_id, event.project_id, exc_info=True)
