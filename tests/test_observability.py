"""Traces across the bus, metrics on every service, and the request context of log lines.

Every service of the test stack exports its spans to an OTLP receiver in
this process (`tests/otlp.py`), so these tests read the spans that real
processes sent. The tests that take the collector down run last, and bring it
back.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import nats
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_contracts import bus
from tests.accounting_helpers import create_key, create_project, spend
from tests.conftest import RunningStack, free_port
from tests.otlp import ReceivedSpan
from tests.test_walking_system import unique, wait_until

MODEL = "openai/gpt-4o-mini"
SERVICES = ("edge", "router", "accounting", "sessions", "catalog")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: RunningStack, service: str) -> Samples:
    response = httpx.get(stack.metrics_urls[service], timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def trace_of(stack: RunningStack, request_id: str, timeout: float = 10) -> str:
    """Return the trace id of the request whose edge span carries `request_id`."""

    def find() -> str | None:
        for span in stack.otlp.spans():
            if span.attributes.get("gateway.request.id") == request_id and span.service == "gateway-edge":
                return span.trace_id
        return None

    return wait_until(find, timeout=timeout)


def one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    found = [span for span in spans if span.service == service and span.name == name]
    assert len(found) == 1, f"{service} {name}: {[(span.service, span.name) for span in spans]}"
    return found[0]


def log_records(stack: RunningStack, service: str) -> list[dict[str, Any]]:
    path = stack.log_dir / f"{service}.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_one_trace_from_edge_to_accounting(stack: RunningStack) -> None:
    marker = unique("traced")
    session_id = unique("traced-session")

    raw = stack.client().chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"Trace {marker}\n#emulate cached=2"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=64,
        temperature=0.5,
        extra_body={"session_id": session_id},
    )
    request_id = raw.headers["x-request-id"]
    [usage] = [chunk.usage for chunk in raw.parse() if chunk.usage is not None]

    trace_id = trace_of(stack, request_id)
    expected = {
        ("gateway-edge", "POST /v1/chat/completions"),
        ("gateway-sessions", "gateway.sessions.history"),
        ("gateway-router", "process gateway.router.chat"),
        ("gateway-router", "chat gpt-4o-mini"),
        ("gateway-router", "send gateway.events.usage.v1"),
        ("gateway-router", "send gateway.events.session.v2"),
        ("gateway-accounting", "process gateway.events.usage.v1"),
        ("gateway-sessions", "process gateway.events.session.v2"),
    }
    spans = wait_until(
        lambda: (found := stack.otlp.spans(trace_id)) and expected <= {(s.service, s.name) for s in found} and found,
        timeout=15,
    )

    edge = one(spans, "gateway-edge", "POST /v1/chat/completions")
    history = one(spans, "gateway-sessions", "gateway.sessions.history")
    router = one(spans, "gateway-router", "process gateway.router.chat")
    upstream = one(spans, "gateway-router", "chat gpt-4o-mini")
    send_usage = one(spans, "gateway-router", "send gateway.events.usage.v1")
    send_session = one(spans, "gateway-router", "send gateway.events.session.v2")
    accounted = one(spans, "gateway-accounting", "process gateway.events.usage.v1")
    stored = one(spans, "gateway-sessions", "process gateway.events.session.v2")

    assert edge.kind == "SERVER"
    assert edge.parent_span_id == ""
    assert edge.attributes["http.route"] == "/v1/chat/completions"
    assert edge.attributes["http.response.status_code"] == 200
    assert history.parent_span_id == edge.span_id
    assert router.kind == "CONSUMER"
    assert router.parent_span_id == edge.span_id
    assert router.attributes["gateway.request.id"] == request_id
    assert upstream.kind == "CLIENT"
    assert upstream.parent_span_id == router.span_id
    assert send_usage.parent_span_id == router.span_id
    # The session event is acknowledged before the stream's last frame, so it is sent within the upstream call.
    assert send_session.parent_span_id == upstream.span_id
    assert accounted.parent_span_id == send_usage.span_id
    assert stored.parent_span_id == send_session.span_id

    # The accounting span in the request's trace links to the span of the batch it was written in.
    [(batch_trace, batch_span)] = accounted.links
    batch = [span for span in stack.otlp.spans(batch_trace) if span.span_id == batch_span]
    assert [span.name for span in batch] == ["process gateway.events.usage.v1 batch"]
    assert (trace_id, send_usage.span_id) in batch[0].links

    attributes = upstream.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert attributes["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2
    assert attributes["gen_ai.conversation.id"] == session_id
    assert attributes["gateway.model"] == MODEL
    assert attributes["gateway.cost.total"] == usage.model_extra["cost"]["total"]
    assert Decimal(attributes["gateway.cost.total"]) > 0
    assert attributes["server.address"] == "127.0.0.1"
    assert upstream.status == "UNSET"


def test_retried_failure_marks_span_and_logs(stack: RunningStack) -> None:
    marker = unique("failing")

    with pytest.raises(openai.InternalServerError) as caught:
        stack.client().chat.completions.create(
            model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": f"{marker}\n#emulate error=529"}]
        )
    request_id = caught.value.response.headers["x-request-id"]
    code = caught.value.body["code"]

    trace_id = trace_of(stack, request_id)
    spans = wait_until(
        lambda: [s for s in stack.otlp.spans(trace_id) if s.name == "chat claude-sonnet-4-20250514"], timeout=10
    )
    [upstream] = spans
    assert upstream.attributes["gen_ai.provider.name"] == "anthropic"
    assert upstream.attributes["error.type"] == code
    assert upstream.status == "ERROR"
    assert upstream.events == ["gateway.upstream.retry", "gateway.upstream.retry"]

    # Every line the router wrote about the request names it and its trace.
    lines = wait_until(
        lambda: [record for record in log_records(stack, "router") if request_id in record["message"]], timeout=5
    )
    levels = [record["level"] for record in lines]
    assert levels == ["INFO", "INFO", "WARNING"]
    for record in lines:
        assert record["request_id"] == request_id
        assert record["trace_id"] == trace_id
        assert record["service"] == "router"


def test_logs_hold_no_secrets_or_content(stack: RunningStack) -> None:
    marker = unique("secret-content")
    session_id = unique("private-session")
    client = stack.client()

    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": marker}], extra_body={"session_id": session_id}
    )
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": f"{marker}\n#emulate error=529"}]
        )
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions",
            content=f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "{marker}"',
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
        assert response.status_code == 400
        response = http.post("/v1/chat/completions", json={}, headers={"Authorization": f"Bearer wrong-{marker}"})
        assert response.status_code == 401
    _publish_invalid_session_event(stack, marker)
    wait_until(lambda: any("invalid session event" in r["message"] for r in log_records(stack, "sessions")))

    for service in SERVICES:
        text = (stack.log_dir / f"{service}.log").read_text()
        assert marker not in text, service
        assert stack.api_key not in text, service
        assert stack.admin_token not in text, service


def _publish_invalid_session_event(stack: RunningStack, marker: str) -> None:
    async def publish() -> None:
        nc = await nats.connect(stack.nats_url)
        try:
            body = {"request_id": unique("req"), "turns": [{"role": "user", "message": {"content": marker}}]}
            await nc.jetstream().publish(f"{bus.SESSION_EVENT_PREFIX}.invalid", json.dumps(body).encode())
        finally:
            await nc.close()

    stack.loop.run(publish())


def test_content_logging_only_when_enabled(stack: RunningStack) -> None:
    port = free_port()
    env = {"GATEWAY_HTTP_PORT": str(port), "GATEWAY_LOG_CONTENT": "true", "GATEWAY_LOG_LEVEL": "DEBUG"}
    stack.loop.run(stack.stack.start_replica("edge", "edge-content", env))
    base_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ready(base_url), timeout=60)
    marker = unique("logged-content")

    with httpx.Client(base_url=base_url, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": marker}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 200

    lines = [record for record in log_records(stack, "edge-content") if marker in record["message"]]
    assert [record["level"] for record in lines] == ["DEBUG"]
    assert lines[0]["request_id"] == response.headers["x-request-id"]
    assert marker not in (stack.log_dir / "edge.log").read_text()


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_metrics_count_a_request_on_every_service(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"])
    before = {service: scrape(stack, service) for service in SERVICES}
    labels = {"model": MODEL, "provider": "openai"}

    completion = stack.client(key["key"]).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": unique("counted")}],
        extra_body={"session_id": unique("counted-session")},
    )
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        models = http.get("/admin/models", headers={"Authorization": f"Bearer {stack.admin_token}"})
    assert models.status_code == 200
    usage = completion.usage
    assert usage is not None
    cost = Decimal(usage.model_extra["cost"]["total"])

    # Accounting counts the tokens and the cost of the new project's request once it has recorded it.
    accounting = wait_until(
        lambda: (
            (s := scrape(stack, "accounting"))
            and value(s, "gateway_tokens_total", project=project["id"], model=MODEL, type="input")
            and s
        ),
        timeout=10,
    )
    assert value(accounting, "gateway_tokens_total", project=project["id"], model=MODEL, type="input") == (
        usage.prompt_tokens
    )
    assert value(accounting, "gateway_tokens_total", project=project["id"], model=MODEL, type="output") == (
        usage.completion_tokens
    )
    assert value(accounting, "gateway_cost_usd_total", project=project["id"], model=MODEL) == pytest.approx(float(cost))
    assert _grew(before["accounting"], accounting, "gateway_usage_events_total", outcome="recorded") >= 1
    assert _grew(before["accounting"], accounting, "gateway_ingest_batch_size_count") >= 1
    assert _grew(before["accounting"], accounting, "gateway_ingest_write_duration_seconds_count") >= 1
    wait_until(
        lambda: (
            _grew(before["accounting"], scrape(stack, "accounting"), "gateway_clickhouse_insert_duration_seconds_count")
            >= 1
        ),
        timeout=10,
    )

    edge = scrape(stack, "edge")
    assert _grew(before["edge"], edge, "gateway_requests_total", status="200", **labels) == 1
    assert _grew(before["edge"], edge, "gateway_request_duration_seconds_count", stream="false", **labels) == 1
    assert (
        _grew(
            before["edge"],
            edge,
            "gateway_http_requests_total",
            method="POST",
            route="/v1/chat/completions",
            status="200",
        )
        == 1
    )
    assert (
        _grew(before["edge"], edge, "gateway_http_requests_total", method="GET", route="/admin/models", status="200")
        == 1
    )

    router = scrape(stack, "router")
    assert _grew(before["router"], router, "gateway_upstream_requests_total", **labels) == 1
    assert _grew(before["router"], router, "gateway_router_requests_total", status="ok", **labels) == 1
    assert _grew(before["router"], router, "gateway_upstream_duration_seconds_count", stream="false", **labels) == 1

    catalog = scrape(stack, "catalog")
    assert (
        _grew(
            before["catalog"],
            catalog,
            "gateway_rpc_requests_total",
            subject="gateway.catalog.admin.model.list",
            outcome="ok",
        )
        == 1
    )

    sessions = wait_until(
        lambda: (
            (s := scrape(stack, "sessions"))
            and _grew(before["sessions"], s, "gateway_session_events_total", outcome="stored") >= 1
            and s
        ),
        timeout=10,
    )
    assert (
        _grew(
            before["sessions"], sessions, "gateway_rpc_requests_total", subject="gateway.sessions.history", outcome="ok"
        )
        == 1
    )

    # JetStream consumer lag is polled every 5 s.
    for service, stream, consumer in (
        ("accounting", bus.USAGE_STREAM.name, bus.ACCOUNTING_USAGE_CONSUMER),
        ("sessions", bus.SESSION_STREAM.name, bus.SESSIONS_TURNS_CONSUMER),
    ):
        wait_until(
            lambda service=service, stream=stream, consumer=consumer: (
                ("gateway_jetstream_consumer_pending", frozenset({("stream", stream), ("consumer", consumer)}))
                in scrape(stack, service)
            ),
            timeout=12,
        )


def test_stream_time_to_first_token_is_observed(stack: RunningStack) -> None:
    labels = {"model": MODEL, "provider": "openai"}
    before = {service: scrape(stack, service) for service in ("edge", "router")}

    chunks = list(
        stack.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": unique("first-token")}], stream=True
        )
    )
    assert chunks

    edge = scrape(stack, "edge")
    router = scrape(stack, "router")
    assert _grew(before["edge"], edge, "gateway_time_to_first_token_seconds_count", **labels) == 1
    assert _grew(before["edge"], edge, "gateway_request_duration_seconds_count", stream="true", **labels) == 1
    assert _grew(before["router"], router, "gateway_upstream_time_to_first_token_seconds_count", **labels) == 1


def test_unknown_model_is_labelled_other(stack: RunningStack) -> None:
    marker = unique("no-such-model")
    before = scrape(stack, "edge")

    with pytest.raises(openai.NotFoundError):
        stack.client().chat.completions.create(model=f"acme/{marker}", messages=[{"role": "user", "content": "hi"}])

    edge = scrape(stack, "edge")
    assert _grew(before, edge, "gateway_requests_total", model="other", provider="other", status="404") == 1
    assert (
        _grew(before, edge, "gateway_request_errors_total", model="other", provider="other", code="model_not_found")
        == 1
    )
    for service in SERVICES:
        for _name, labels in scrape(stack, service):
            for label_value in dict(labels).values():
                assert marker not in label_value
                assert not label_value.startswith("req_")


def test_budget_rejections_are_counted(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="0.001")
    key = create_key(stack, project["id"])
    spend(stack, project["id"], key["id"], Decimal("0.001"))
    body = {"model": MODEL, "messages": [{"role": "user", "content": unique("refused")}]}

    def refused() -> bool:
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            response = http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key['key']}"})
        return response.status_code == 402

    wait_until(refused, timeout=5)
    assert refused()

    edge = scrape(stack, "edge")
    rejections = value(edge, "gateway_budget_rejections_total", project=project["id"], scope="project")
    errors = value(edge, "gateway_request_errors_total", model=MODEL, provider="openai", code="budget_exceeded")
    assert rejections >= 2
    assert errors >= rejections


@pytest.mark.parametrize("outage", ["refuse", "stall"])
def test_collector_outage_spares_requests(stack: RunningStack, outage: str) -> None:
    """With the collector refusing connections or hanging, every request still succeeds without waiting on it.

    The exporter retries a failed export after at least a second and waits
    up to 10 s for a response, so a request that waited on it would take that
    long. These complete within the second that the bound allows.
    """
    router_log = stack.log_dir / "router.log"
    log_start = router_log.stat().st_size
    stack.loop.run(stack.otlp.refuse() if outage == "refuse" else stack.otlp.stall())
    try:
        # 60 requests make about 240 router spans: more than the test stack's span queue (128) and
        # the batch (64) that the exporter keeps while it retries.
        for index in range(60):
            started = time.monotonic()
            completion = stack.client().chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"outage {index}"}], stream=index % 2 == 1
            )
            if index % 2 == 1:
                assert [chunk for chunk in completion]
            else:
                assert completion.choices[0].message.content
            assert time.monotonic() - started < 1.0
    finally:
        stack.loop.run(stack.otlp.resume())

    # The SDK's line for each dropped span is let through once a minute.
    with router_log.open() as log:
        log.seek(log_start)
        dropped = [line for line in log if "Queue full" in line]
    assert len(dropped) <= 1

    # Tracing recovers once the collector is back.
    raw = stack.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": unique("recovered")}]
    )
    trace_of(stack, raw.headers["x-request-id"], timeout=30)


def _grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)
