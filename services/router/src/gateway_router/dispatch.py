"""One dispatched chat request: from the edge's message to the upstream and back as frames."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from gateway_contracts import (
    COST_PARTS,
    DONE_FRAME,
    HEARTBEAT_FRAME,
    CatalogEntry,
    CostBreakdown,
    DispatchMeta,
    FrameKind,
    Price,
    ReasoningNotSupported,
    ReasoningPlan,
    RequestProblem,
    RequestStatus,
    SamplingParams,
    SessionTurnsEvent,
    ThinkingRequest,
    TokenUsage,
    UsageEvent,
    bus,
    catalog_key,
    decode_dispatch,
    encode_error_frame,
    encode_frame,
    event_id,
    plan_reasoning,
    price_usage,
    requested_thinking,
    split_thinking_suffix,
)
from gateway_contracts.kv import BucketMirror
from gateway_contracts.metrics import model_labels
from gateway_contracts.money import plain_decimal
from gateway_contracts.sessions import session_event_subject
from gateway_contracts.telemetry import REQUEST_ID, context_from_headers, tracer, tracing_enabled
from gateway_contracts.tokens import count_images, count_prompt, count_text, encoding_name
from gateway_router.accumulator import ReplyAccumulator
from gateway_router.adapters import ADAPTERS, Adapter, UpstreamRequest
from gateway_router.adapters.base import CallContext
from gateway_router.errors import InternalFault, RequestRejected, RouterError, UpstreamFailed
from gateway_router.media import MediaFetcher, inline_image_urls
from gateway_router.observability import (
    DISPATCHED,
    UPSTREAM_DURATION,
    UPSTREAM_ERRORS,
    UPSTREAM_FIRST_TOKEN,
    UPSTREAM_REQUESTS,
    record_reply,
    record_retry,
    upstream_span,
)
from gateway_router.providers import ProviderRoute, custom_route
from gateway_router.publisher import EventPublisher
from gateway_router.retries import RetryPolicy, may_fall_back, model_chain
from gateway_router.session_events import encode_session_event, session_event
from gateway_router.sse import data_lines
from gateway_router.upstream_errors import translate_transport_errors

logger = logging.getLogger("gateway_router.dispatch")
_tracer = tracer("gateway_router")

# Room left in a NATS message for the protocol line around a reply frame.
_FRAME_RESERVE = 4 * 1024


@dataclass(slots=True)
class Job:
    """A request in flight on this router."""

    meta: DispatchMeta
    reply_to: str
    # The dispatch message's headers, which carry the edge's trace context.
    headers: dict[str, str] | None = None
    last_frame_at: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    # Frames of this request sent through the object store so far.
    offloaded: int = 0
    # Stream frames without output (the role chunk, for one), held back so
    # that a failure before any output can still be retried. They go out with
    # the first output, or instead of the first heartbeat.
    held: list[bytes] = field(default_factory=list)
    # Whether anything but heartbeats reached the edge; from then on a
    # failure can be neither retried nor sent to another model.
    started: bool = False
    # Keeps the held frames ahead of later ones when the heartbeat loop releases them.
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(slots=True)
class Outcome:
    """What the usage and session events report about a finished request."""

    status: RequestStatus = "ok"
    http_status: int = 200
    error_code: str | None = None
    entry: CatalogEntry | None = None
    route: ProviderRoute | None = None
    upstream_model: str | None = None
    usage: TokenUsage | None = None
    # The cost of `usage`, once the provider reported it.
    cost: CostBreakdown | None = None
    body: dict[str, Any] | None = None
    reply: ReplyAccumulator = field(default_factory=ReplyAccumulator)
    message: dict[str, Any] | None = None
    first_token_at: float | None = None
    # The body with its https images replaced by their bytes, made once for
    # the providers that need them.
    inlined_body: dict[str, Any] | None = None

    session_event_sent: bool = False

    def reset_reply(self) -> None:
        self.reply = ReplyAccumulator()
        self.usage = None
        self.cost = None
        self.first_token_at = None

    def fail(self, error: RouterError) -> None:
        self.status = "error"
        self.http_status = error.status
        self.error_code = error.code


class Dispatcher:
    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        publisher: EventPublisher,
        catalog: BucketMirror[CatalogEntry],
        routes: dict[str, ProviderRoute],
        http: aiohttp.ClientSession,
        retry: RetryPolicy,
        media: MediaFetcher,
        log_content: bool = False,
    ) -> None:
        self.jobs: dict[str, Job] = {}
        self._nc = nc
        self._js = js
        self._publisher = publisher
        self._catalog = catalog
        self._routes = routes
        self._http = http
        self._retry = retry
        self._media = media
        # Whether replies are logged at DEBUG; off unless the operator asks, because they are the users' content.
        self._log_content = log_content

    async def on_dispatch(self, msg: Msg) -> None:
        meta, body = decode_dispatch(msg.data)
        request_id = meta["request_id"]
        job = Job(meta=meta, reply_to=msg.reply, headers=msg.headers)
        job.task = asyncio.create_task(self._run(job, body), name=f"request-{request_id}")
        self.jobs[request_id] = job
        job.task.add_done_callback(lambda _task: self.jobs.pop(request_id, None))

    async def on_cancel(self, msg: Msg) -> None:
        job = self.jobs.get(msg.data.decode())
        if job is None or job.task is None:
            return
        logger.info("Cancelling request %s: the client went away", job.meta["request_id"])
        job.task.cancel()

    async def send_heartbeats(self, idle_seconds: float) -> None:
        """Tell the edge about every request whose upstream has been silent for `idle_seconds`."""
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if now - job.last_frame_at < idle_seconds:
                continue
            if job.held:
                # The client has waited long enough: it gets the held frames
                # now, and the request can no longer be retried.
                await self._release(job, None)
            else:
                await self._send(job, HEARTBEAT_FRAME)

    async def _release(self, job: Job, frame: bytes | None) -> None:
        """Send the held frames, then `frame`, in order; the request has started from here on."""
        async with job.send_lock:
            job.started = True
            held, job.held = job.held, []
            for earlier in held:
                await self._send(job, earlier)
            if frame is not None:
                await self._send(job, frame)

    async def _send(self, job: Job, frame: bytes) -> None:
        job.last_frame_at = time.monotonic()
        if len(frame) > self._nc.max_payload - _FRAME_RESERVE:
            frame = await self._offload(job, frame)
        await self._nc.publish(job.reply_to, frame)

    async def _offload(self, job: Job, frame: bytes) -> bytes:
        """Put a frame too large for one NATS message in the object store; send its name instead."""
        job.offloaded += 1
        name = f"{job.meta['request_id']}.reply.{job.offloaded}"
        store = await self._js.object_store(bus.PAYLOAD_OBJECT_STORE)
        await store.put(name, frame)
        return encode_frame(FrameKind.OFFLOADED, name.encode())

    async def _run(self, job: Job, raw_body: bytes) -> None:
        # This task's own context, so the id stays on this request's log lines only.
        REQUEST_ID.set(job.meta["request_id"])
        if not tracing_enabled():
            await self._handle(job, raw_body, None)
            return
        with _tracer.start_as_current_span(
            f"process {bus.ROUTER_CHAT}",
            context=context_from_headers(job.headers),
            kind=SpanKind.CONSUMER,
            # The outcome sets the status: a request that its client cancelled is not a failure.
            record_exception=False,
            set_status_on_exception=False,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": bus.ROUTER_CHAT,
                "gateway.request.id": job.meta["request_id"],
                "gateway.model": job.meta["model"],
            },
        ) as span:
            await self._handle(job, raw_body, span)

    async def _handle(self, job: Job, raw_body: bytes, span: Span | None) -> None:
        outcome = Outcome()
        try:
            await self._serve(job, raw_body, outcome)
        except RouterError as error:
            outcome.fail(error)
            _log_failure(job, outcome, error)
            await self._store_session_turns(job, outcome)
            await self._send(job, encode_error_frame(error.to_frame()))
        except asyncio.CancelledError:
            outcome.status = "cancelled"
            outcome.http_status = 499
            raise
        except Exception as error:
            logger.error("Request %s failed in the router", job.meta["request_id"], exc_info=True)
            fault = InternalFault(f"The router failed while handling the request: {type(error).__name__}.")
            outcome.fail(fault)
            await self._store_session_turns(job, outcome)
            await self._send(job, encode_error_frame(fault.to_frame()))
        finally:
            _record_outcome(outcome, span)
            if self._log_content and outcome.message is not None:
                logger.debug("Request %s reply: %s", job.meta["request_id"], orjson.dumps(outcome.message).decode())
            # Shielded: a request cancelled by its client is still accounted for.
            await asyncio.shield(self._publish_events(job, outcome))

    async def _serve(self, job: Job, raw_body: bytes, outcome: Outcome) -> None:
        meta = job.meta
        body = await self._load_body(meta, raw_body)
        outcome.body = body
        primary = self._entry(meta["model"])
        suffix = body.get("model") != meta["model"] and split_thinking_suffix(str(body.get("model", "")))[1]
        requested = requested_thinking(
            body.get("thinking"), body.get("reasoning"), body.get("reasoning_effort"), suffix
        )

        chain = model_chain(primary.id, body, primary)
        for position, model in enumerate(chain):
            try:
                await self._serve_model(job, body, requested, model, outcome)
                return
            except RouterError as error:
                last = position == len(chain) - 1
                if last or job.started or not may_fall_back(error):
                    raise
                outcome.reset_reply()
                job.held.clear()
                logger.warning(
                    "Request %s falls back from %s to %s after %s",
                    meta["request_id"],
                    model,
                    chain[position + 1],
                    error.code,
                )

    async def _serve_model(
        self,
        job: Job,
        body: dict[str, Any],
        requested: ThinkingRequest | None,
        model: str,
        outcome: Outcome,
    ) -> None:
        """Serve the request with one model, retrying retryable failures while nothing reached the client."""
        outcome.entry = self._entry(model)
        outcome.route = self._route(outcome.entry)
        outcome.upstream_model = outcome.entry.upstream_name
        adapter = ADAPTERS[outcome.route.spec.adapter]
        context = CallContext(
            entry=outcome.entry,
            route=outcome.route,
            stream=job.meta["stream"],
            plan=_plan(requested, outcome.entry, body),
        )
        if adapter.inlines_image_urls or outcome.route.spec.self_hosted:
            if outcome.inlined_body is None:
                outcome.inlined_body = await inline_image_urls(body, self._media)
            body = outcome.inlined_body
        request = adapter.build_request(body, context)

        with upstream_span(
            outcome.entry, outcome.route.spec.name, request.url, body, context.stream, job.meta.get("session_id")
        ) as span:
            await self._call_with_retries(job, adapter, context, request, outcome, span)

    async def _call_with_retries(
        self,
        job: Job,
        adapter: Adapter,
        context: CallContext,
        request: UpstreamRequest,
        outcome: Outcome,
        span: Span | None,
    ) -> None:
        assert outcome.entry is not None and outcome.route is not None
        model, provider = model_labels(outcome.entry)
        attempt = 1
        while True:
            UPSTREAM_REQUESTS.labels(model, provider).inc()
            started = time.perf_counter()
            try:
                with translate_transport_errors(outcome.route.spec.name):
                    if context.stream:
                        response = await self._stream(job, adapter, context, request, outcome, started)
                    else:
                        response = await self._complete(job, adapter, context, request, outcome)
                UPSTREAM_DURATION.labels(model, provider, "true" if context.stream else "false").observe(
                    time.perf_counter() - started
                )
                record_reply(span, response, outcome.reply.finish_reason, outcome.usage, outcome.cost)
                return
            except UpstreamFailed as error:
                UPSTREAM_ERRORS.labels(model, provider, error.code).inc()
                delay = None if job.started else self._retry.delay(attempt, error)
                if delay is None:
                    raise
                record_retry(span, attempt, error.code, delay)
                logger.info(
                    "Retrying request %s on %s in %.2f s after %s (attempt %d)",
                    job.meta["request_id"],
                    outcome.entry.id,
                    delay,
                    error.code,
                    attempt,
                )
                outcome.reset_reply()
                job.held.clear()
                await asyncio.sleep(delay)
                attempt += 1

    async def _complete(
        self, job: Job, adapter: Adapter, context: CallContext, request: UpstreamRequest, outcome: Outcome
    ) -> dict[str, Any] | None:
        """Make one non-streaming call and send its RESPONSE frame; return the reply's JSON for the span."""
        async with self._http.post(
            request.url, data=request.body, headers=request.headers, allow_redirects=False
        ) as response:
            data = await response.read()
            if not 200 <= response.status < 300:
                raise adapter.classify_error(response.status, data, response.headers, context)
        try:
            parsed = adapter.parse_response(data, context)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise UpstreamFailed(
                f"Provider `{context.route.spec.name}` sent a reply that is not valid JSON.", code="upstream_error"
            ) from error

        outcome.usage = parsed.usage
        outcome.upstream_model = parsed.upstream_model
        outcome.message = parsed.message
        job.started = True
        cost = self._price(job, outcome)
        await self._store_session_turns(job, outcome)
        await self._send(job, encode_frame(FrameKind.RESPONSE, body_with_cost(parsed.body, cost)))
        return _reply_summary(parsed.body, outcome) if tracing_enabled() else None

    async def _stream(
        self,
        job: Job,
        adapter: Adapter,
        context: CallContext,
        request: UpstreamRequest,
        outcome: Outcome,
        started: float,
    ) -> dict[str, Any] | None:
        """Make one streaming call and relay its chunks; return the first chunk, which names the model, for the span."""
        include_usage = job.meta["include_usage"]
        first: dict[str, Any] | None = None
        async with self._http.post(
            request.url, data=request.body, headers=request.headers, allow_redirects=False
        ) as response:
            if not 200 <= response.status < 300:
                data = await response.read()
                raise adapter.classify_error(response.status, data, response.headers, context)
            if response.content_type != "text/event-stream":
                # A JSON error body with a success status, as some servers send
                # when they fail before streaming, is an error and not an empty stream.
                data = await response.read()
                raise adapter.classify_error(502, data, response.headers, context)

            async for piece in adapter.parse_stream(data_lines(response.content), context):
                if first is None:
                    first = piece.chunk
                payload = piece.payload
                if piece.usage is not None:
                    outcome.usage = piece.usage
                    if not piece.chunk.get("choices") and not include_usage:
                        continue
                    payload = chunk_with_cost(piece.chunk, self._price(job, outcome))
                outcome.reply.add(piece.chunk)
                frame = encode_frame(FrameKind.CHUNK, payload)
                if not job.started and not outcome.reply.has_output:
                    job.held.append(frame)
                    continue
                if outcome.first_token_at is None and outcome.reply.has_output:
                    outcome.first_token_at = time.time()
                    UPSTREAM_FIRST_TOKEN.labels(*model_labels(context.entry)).observe(time.perf_counter() - started)
                await self._release(job, frame)

        outcome.message = outcome.reply.message()
        await self._store_session_turns(job, outcome)
        await self._release(job, DONE_FRAME)
        return first

    async def _store_session_turns(self, job: Job, outcome: Outcome) -> None:
        """Publish the session event and wait for its ack; called just before the request's last frame.

        A client that sends its next message as soon as the reply ends then
        finds this reply in the session's history.
        """
        event = self._session_event(job, outcome)
        if event is None:
            return
        await self._publisher.publish_acked(
            event_subject(event),
            encode_session_event(event, self._nc.max_payload - _FRAME_RESERVE),
            event_id("session", job.meta["request_id"]),
        )
        outcome.session_event_sent = True

    async def _load_body(self, meta: DispatchMeta, raw_body: bytes) -> dict[str, Any]:
        body_ref = meta.get("body_ref")
        if body_ref is not None:
            store = await self._js.object_store(bus.PAYLOAD_OBJECT_STORE)
            result = await store.get(body_ref)
            raw_body = result.data or b""
            await store.delete(body_ref)
        body: dict[str, Any] = orjson.loads(raw_body)
        return body

    def _entry(self, model: str) -> CatalogEntry:
        entry = self._catalog.get(catalog_key(model))
        if entry is None:
            # A fallback may carry a `:thinking` suffix, which the edge accepted.
            base, suffix = split_thinking_suffix(model)
            entry = self._catalog.get(catalog_key(base)) if suffix else None
        if entry is None:
            raise RequestRejected(f"The model `{model}` does not exist.", code="model_not_found", param="model")
        return entry

    def _route(self, entry: CatalogEntry) -> ProviderRoute:
        if entry.base_url is not None:
            route = custom_route(entry, os.environ)
            if route.mode == "unconfigured":
                raise RequestRejected(
                    f"The custom model `{entry.id}` needs its API key: set `{entry.api_key_env}` on the router.",
                    code="provider_not_configured",
                    param="model",
                )
            return route
        route = self._routes.get(entry.provider)
        if route is None or route.spec.adapter not in ADAPTERS:
            raise RequestRejected(
                f"The model `{entry.id}` is served by provider `{entry.provider}`, which this router cannot reach.",
                code="provider_not_configured",
                param="model",
            )
        if route.mode == "unconfigured":
            raise RequestRejected(
                f"Provider `{entry.provider}` is not configured: set `{route.spec.credential_env}` "
                f"on the router to serve `{entry.id}`.",
                code="provider_not_configured",
                param="model",
            )
        return route

    async def _publish_events(self, job: Job, outcome: Outcome) -> None:
        try:
            usage_event = self._usage_event(job, outcome)
            await self._publisher.publish(
                bus.USAGE_EVENT_SUBJECT,
                usage_event.model_dump_json().encode(),
                event_id("usage", job.meta["request_id"]),
            )
            # A cancelled request sends no last frame, so its session event goes out here.
            event = None if outcome.session_event_sent else self._session_event(job, outcome)
            if event is not None:
                await self._publisher.publish(
                    event_subject(event),
                    encode_session_event(event, self._nc.max_payload - _FRAME_RESERVE),
                    event_id("session", job.meta["request_id"]),
                )
        except Exception:
            logger.error("Could not publish the events of request %s", job.meta["request_id"], exc_info=True)

    def _price(self, job: Job, outcome: Outcome) -> CostBreakdown:
        """Price the provider's usage with the price in force on the request's UTC day, once."""
        assert outcome.usage is not None
        if outcome.usage.input_images == 0 and outcome.body is not None:
            images = count_images(outcome.body.get("messages", []))
            if images:
                outcome.usage = outcome.usage.model_copy(update={"input_images": images})
        outcome.cost = price_usage(outcome.usage, _price_at(outcome.entry, job.meta["received_at"]))
        return outcome.cost

    def _usage_event(self, job: Job, outcome: Outcome) -> UsageEvent:
        meta = job.meta
        finished = time.time()
        if outcome.usage is not None:
            usage = outcome.usage
            cost = outcome.cost or self._price(job, outcome)
        else:
            usage = _estimate_usage(outcome)
            cost = price_usage(usage, _price_at(outcome.entry, meta["received_at"]), estimated=True)
        ttft = None
        if outcome.first_token_at is not None:
            ttft = max((outcome.first_token_at - meta["received_at"]) * 1000, 0.0)
        return UsageEvent(
            request_id=meta["request_id"],
            project_id=meta["project_id"],
            key_id=meta["key_id"],
            # The model that served the request, which differs from the requested one after a fallback.
            model=outcome.entry.id if outcome.entry else meta["model"],
            provider=outcome.route.spec.name if outcome.route else (outcome.entry.provider if outcome.entry else ""),
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

    def _session_event(self, job: Job, outcome: Outcome) -> SessionTurnsEvent | None:
        if outcome.status == "ok":
            reply = outcome.message
        else:
            # A failed or cancelled request keeps what the client received.
            reply = outcome.reply.message() if outcome.reply.has_output else None
        # The model that served the request, which differs from the requested one after a fallback.
        model = outcome.entry.id if outcome.entry else job.meta["model"]
        return session_event(job.meta, outcome.body, outcome.status, reply, model)


def event_subject(event: SessionTurnsEvent) -> str:
    return session_event_subject(event.project_id, event.session_id)


def _record_outcome(outcome: Outcome, span: Span | None) -> None:
    """Count the finished request under the model that served it, and mark a failed request's span."""
    DISPATCHED.labels(*model_labels(outcome.entry), outcome.status).inc()
    if span is None:
        return
    span.set_attribute("gateway.status", outcome.status)
    if outcome.entry is not None:
        span.set_attribute("gateway.model", outcome.entry.id)
    if outcome.status == "error":
        span.set_attribute("error.type", outcome.error_code or "error")
        span.set_status(Status(StatusCode.ERROR, outcome.error_code))


def _reply_summary(data: bytes, outcome: Outcome) -> dict[str, Any]:
    """Return the id and model of a `chat.completion` body, noting its first finish reason in the outcome."""
    completion = orjson.loads(data)
    if not isinstance(completion, dict):
        return {}
    choices = completion.get("choices") or []
    if choices and isinstance(choices[0], dict) and choices[0].get("finish_reason"):
        outcome.reply.finish_reason = choices[0]["finish_reason"]
    return {"id": completion.get("id"), "model": completion.get("model")}


def _log_failure(job: Job, outcome: Outcome, error: RouterError) -> None:
    """Log one line per failed request: operators see upstream failures that clients are told about."""
    provider = outcome.route.spec.name if outcome.route else "none"
    if isinstance(error, UpstreamFailed):
        logger.warning(
            "Request %s to provider %s failed: %s (upstream HTTP %s)",
            job.meta["request_id"],
            provider,
            error.code,
            error.upstream_status,
        )
        return
    logger.info("Request %s rejected: %s", job.meta["request_id"], error.code)


def _estimate_usage(outcome: Outcome) -> TokenUsage:
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


def _price_at(entry: CatalogEntry | None, received_at: float) -> Price | None:
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


def body_with_cost(data: bytes, cost: CostBreakdown) -> bytes:
    """Add `usage.cost` to a `chat.completion` body; a body without `usage` is returned as it is."""
    completion = orjson.loads(data)
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


def _plan(requested: ThinkingRequest | None, entry: CatalogEntry, body: dict[str, Any]) -> ReasoningPlan | None:
    """Fit the reasoning request to `entry`; the edge has already rejected what the catalog rules out."""
    sampling = SamplingParams(
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        tool_choice=body.get("tool_choice"),
    )
    try:
        return plan_reasoning(requested, entry, sampling)
    except ReasoningNotSupported as problem:
        raise RequestRejected(problem.message, code="capability_not_supported", param=problem.param) from None
    except RequestProblem as problem:
        raise RequestRejected(problem.message, param=problem.param) from None
