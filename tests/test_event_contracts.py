"""Public events on the real stack: who publishes them, what they carry, and subscribers' own consumers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from gateway_contracts import bus
from gateway_contracts.public_events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    BudgetExhausted,
    BudgetThresholdCrossed,
    CatalogEntryChanged,
    ProjectBudgetChanged,
    SessionDeleted,
    SessionTurnAppended,
    UsageRecorded,
)
from gateway_contracts.registry import InvalidEvent, decode_event
from gateway_contracts.sessions import session_turn_subject
from tests.accounting_helpers import MODEL, admin, create_key, create_project, publish_events, synthetic_event
from tests.conftest import RunningStack, free_port
from tests.test_catalog import add_custom_model
from tests.test_walking_system import unique, wait_until

EXAMPLE = Path(__file__).parents[1] / "examples" / "cost_per_model.py"
TRACE_ID_DIGITS = frozenset("0123456789abcdef")


async def _read(
    stack: RunningStack, stream: bus.StreamSpec, subject: str, since: datetime, timeout: float
) -> list[tuple[int, bytes, Any]]:
    """Return (stream sequence, payload, decoded event) of the messages on `subject` stored since `since`."""
    nc = await nats.connect(stack.nats_url)
    found: list[tuple[int, bytes, Any]] = []
    try:
        js = nc.jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        )
        subscription = await js.pull_subscribe(subject, stream=stream.name, config=config)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                messages = await subscription.fetch(100, timeout=0.5)
            except TimeoutError:
                break
            for message in messages:
                try:
                    event = decode_event(message.data, message.subject)
                except InvalidEvent:
                    # The test of the example's handling publishes a message that is not JSON.
                    continue
                found.append((message.metadata.sequence.stream, message.data, event))
        await subscription.unsubscribe()
    finally:
        await nc.close()
    return found


def events_of(
    stack: RunningStack,
    model: type,
    since: datetime,
    match: Callable[[Any], bool],
    count: int = 1,
    subject: str | None = None,
    timeout: float = 15.0,
) -> list[tuple[int, bytes, Any]]:
    """Wait until `count` events of `model` that `match` were published since `since`, and return them."""
    stream = next(stream for stream in bus.STREAMS if any(
        (subject or model.subject).startswith(pattern.removesuffix(">")) for pattern in stream.subjects
    ))  # fmt: skip

    def found() -> list[tuple[int, bytes, Any]] | None:
        events = stack.loop.run(_read(stack, stream, subject or model.subject, since, timeout=2.0))
        chosen = [item for item in events if isinstance(item[2], model) and match(item[2])]
        return chosen if len(chosen) >= count else None

    return wait_until(found, timeout=timeout, interval=0.5)


def chat_request_id(stack: RunningStack, api_key: str | None = None, **extra: Any) -> str:
    """Send one chat completion through the edge and return its request id."""
    raw = stack.client(api_key).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": unique("event")}], **extra
    )
    raw.parse()
    return raw.headers["x-request-id"]


def assert_envelope(event: Any, request_id: str, project_id: str | None) -> None:
    assert event.request_id == request_id
    assert event.project_id == project_id
    assert len(event.trace_id) == 32
    assert set(event.trace_id) <= TRACE_ID_DIGITS
    assert event.occurred_at.tzinfo is not None
    assert event.event_id


def test_request_through_edge_publishes_usage_recorded(stack: RunningStack) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    request_id = chat_request_id(stack)

    [(_seq, payload, event)] = events_of(stack, UsageRecorded, since, lambda event: event.request_id == request_id)

    assert_envelope(event, request_id, event.project_id)
    assert event.event_id == f"usage.recorded:{request_id}"
    assert event.model == MODEL
    assert event.status == "ok"
    assert event.usage.total_tokens > 0
    assert event.cost.total > 0
    assert b"reserved_project_usd" not in payload
    # The test stack traces, so the trace id is the one the router's internal event carried.
    traceparent = stack.loop.run(_internal_usage_traceparent(stack, request_id, since))
    assert traceparent is not None
    assert event.trace_id == traceparent.split("-")[1]


def test_usage_recorded_amounts_match_http_response(stack: RunningStack) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    raw = stack.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": unique("amounts")}], max_tokens=5
    )
    response_cost = json.loads(raw.text)["usage"]["cost"]
    request_id = raw.headers["x-request-id"]

    [(_seq, payload, _event)] = events_of(stack, UsageRecorded, since, lambda event: event.request_id == request_id)
    event_cost = json.loads(payload)["cost"]

    for part, amount in event_cost.items():
        if not isinstance(amount, str) or part == "currency":
            continue
        assert "E" not in amount.upper(), (part, amount)
        assert amount == "0" or Decimal(amount) != 0, (part, amount)
        if part in response_cost:
            assert amount == response_cost[part], part
    assert Decimal(event_cost["input"]) > 0


def test_admin_rejects_cap_above_maximum(stack: RunningStack) -> None:
    with admin(stack) as http:
        huge = http.post("/admin/projects", content=b'{"name": "huge", "daily_budget_usd": 1e308}',
                         headers={"Content-Type": "application/json"})  # fmt: skip
        precise = http.post("/admin/projects", json={"name": "precise", "daily_budget_usd": "0.00000000001"})

    assert huge.status_code == 400, huge.text
    error = huge.json()["error"]
    assert error["param"] == "daily_budget_usd"
    assert "1E+308" in error["message"]
    assert "1000000000 USD" in error["message"]
    assert precise.status_code == 400, precise.text
    assert "10 decimal places" in precise.json()["error"]["message"]


async def _internal_usage_traceparent(stack: RunningStack, request_id: str, since: datetime) -> str | None:
    nc = await nats.connect(stack.nats_url)
    try:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since, ack_policy=AckPolicy.NONE
        )
        subscription = await nc.jetstream().pull_subscribe(
            bus.USAGE_EVENT_SUBJECT, stream=bus.USAGE_STREAM.name, config=config
        )
        for message in await subscription.fetch(100, timeout=2.0):
            if request_id.encode() in message.data:
                return (message.headers or {}).get("traceparent")
        return None
    finally:
        await nc.close()


def test_example_subscriber_sums_cost_of_real_requests(stack: RunningStack) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    request_ids = [chat_request_id(stack), chat_request_id(stack)]
    events = events_of(stack, UsageRecorded, since, lambda event: event.request_id in request_ids, count=2)
    first_sequence = min(seq for seq, _payload, _event in events)
    expected_cost = sum((event.cost.total for _seq, _payload, event in events), Decimal(0))

    by_sequence = run_example(stack, "--from-sequence", str(first_sequence), "--max-events", "2")
    by_time = run_example(stack, "--since", since.isoformat(), "--idle", "2")

    assert example_row(by_sequence, MODEL) == (2, expected_cost)
    requests, cost = example_row(by_time, MODEL)
    assert requests >= 2
    assert cost >= expected_cost


def run_example(stack: RunningStack, *args: str) -> str:
    durable = f"example-{uuid.uuid4().hex[:12]}"
    result = example_process("--nats-url", stack.nats_url, "--durable", durable, "--idle", "3", *args)
    assert result.returncode == 0, result.stderr
    stack.loop.run(_delete_consumer(stack, bus.USAGE_STREAM.name, durable))
    return result.stdout


def example_process(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if name not in ("NATS_URL", "GATEWAY_DATA_DIR")}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**environment, **(env or {})},
    )


def test_example_reads_nats_url_file_of_gateway_up(stack: RunningStack) -> None:
    data_dir = stack.stack.config.data_dir
    url_file = data_dir / "nats-url"
    durable = f"example-{uuid.uuid4().hex[:12]}"

    from_file = example_process("--durable", durable, "--idle", "1", env={"GATEWAY_DATA_DIR": str(data_dir)})
    stack.loop.run(_delete_consumer(stack, bus.USAGE_STREAM.name, durable))
    wrong_variable = example_process(
        "--idle", "1", env={"GATEWAY_DATA_DIR": str(data_dir), "NATS_URL": stack.nats_url.replace("://", "://wrong")}
    )

    assert url_file.read_text().strip() == stack.nats_url
    assert url_file.stat().st_mode & 0o777 == 0o600
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.startswith("model")
    # NATS_URL comes before the file.
    assert wrong_variable.returncode == 1
    assert "Authorization Violation" in wrong_variable.stderr


def test_example_fails_fast_on_wrong_token(stack: RunningStack) -> None:
    wrong = stack.nats_url.replace("://", "://not-the-token")
    started = time.monotonic()

    result = example_process("--nats-url", wrong, "--idle", "30", timeout=30)

    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "Authorization Violation" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not-the-token" not in result.stderr


def test_example_fails_fast_when_nats_is_unreachable() -> None:
    result = example_process("--nats-url", f"nats://127.0.0.1:{free_port()}", "--idle", "30", timeout=30)

    assert result.returncode == 1
    assert "unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_example_rejects_invalid_options() -> None:
    cases = {
        ("--durable", "a.b"): "invalid durable name 'a.b'",
        ("--from-sequence", "-5"): "-5 is less than 1",
        ("--since", "2026-11-30T00:00:00"): "has no zone",
        ("--since", "yesterday"): "invalid time 'yesterday'",
        ("--idle", "0"): "out of range",
    }
    for args, message in cases.items():
        result = example_process(*args, "--nats-url", "nats://127.0.0.1:1", timeout=30)

        assert result.returncode == 2, args
        assert message in result.stderr, args
        assert "Traceback" not in result.stderr, args


def test_example_accepts_the_times_its_hint_suggests() -> None:
    for value in ("2026-11-30T00:00:00+00:00", "2026-11-30T00:00:00Z"):
        result = example_process("--since", value, "--nats-url", "nats://127.0.0.1:1", timeout=30)

        # 1: the option was taken and the connection then failed; 2 would mean a rejected option.
        assert result.returncode == 1, (value, result.stderr)


def test_example_terminates_message_that_is_not_json(stack: RunningStack) -> None:
    sequence = stack.loop.run(_publish_raw(stack, bus.USAGE_RECORDED_SUBJECT, b"\x00not json"))
    request_id = chat_request_id(stack)
    since = datetime.now(UTC) - timedelta(seconds=5)
    [(_, _, event)] = events_of(stack, UsageRecorded, since, lambda found: found.request_id == request_id)

    output = example_process(
        "--nats-url", stack.nats_url, "--durable", f"example-{uuid.uuid4().hex[:12]}",
        "--from-sequence", str(sequence), "--idle", "2",
    )  # fmt: skip

    assert output.returncode == 0, output.stderr
    assert f"skipped stream sequence {sequence}: The message on `{bus.USAGE_RECORDED_SUBJECT}` is not JSON" in (
        output.stderr
    )
    requests, cost = example_row(output.stdout, MODEL)
    assert requests >= 1
    assert cost >= event.cost.total


async def _publish_raw(stack: RunningStack, subject: str, payload: bytes) -> int:
    nc = await nats.connect(stack.nats_url)
    try:
        ack = await nc.jetstream().publish(subject, payload)
    finally:
        await nc.close()
    return ack.seq


def example_row(output: str, model: str) -> tuple[int, Decimal]:
    for line in output.splitlines()[1:]:
        name, requests, cost = line.split()
        if name == model:
            return int(requests), Decimal(cost)
    raise AssertionError(f"no row for {model} in:\n{output}")


async def _delete_consumer(stack: RunningStack, stream: str, durable: str) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        await nc.jetstream().delete_consumer(stream, durable)
    finally:
        await nc.close()


def test_stalled_subscriber_does_not_hold_back_accounting(stack: RunningStack) -> None:
    durable = f"stalled-{uuid.uuid4().hex[:12]}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    stack.loop.run(_add_stalled_consumer(stack, durable))
    try:
        chat_request_id(stack)
        wait_until(lambda: stack.loop.run(_take_one(stack, durable)), timeout=15)
        request_ids = {chat_request_id(stack) for _ in range(3)}
        # Accounting publishes usage.recorded once it has stored an event: all three arrive
        # while the stalled subscriber has not acked its first one.
        recorded = events_of(stack, UsageRecorded, since, lambda event: event.request_id in request_ids, count=3)
        stalled = stack.loop.run(_consumer_info(stack, durable))
    finally:
        stack.loop.run(_delete_consumer(stack, bus.USAGE_STREAM.name, durable))

    assert {event.request_id for _, _, event in recorded} == request_ids
    # The stalled subscriber has one unacked event, and the others wait for it alone.
    assert stalled.num_ack_pending == 1
    assert stalled.num_pending >= 2


async def _add_stalled_consumer(stack: RunningStack, durable: str) -> None:
    """Create a durable consumer from now on that may hold one unacked event at a time."""
    nc = await nats.connect(stack.nats_url)
    try:
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=bus.USAGE_RECORDED_SUBJECT,
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=300.0,
            max_ack_pending=1,
        )
        await nc.jetstream().add_consumer(bus.USAGE_STREAM.name, config)
    finally:
        await nc.close()


async def _take_one(stack: RunningStack, durable: str) -> bool:
    """Fetch one event for the stalled consumer and never ack it; return whether there was one."""
    nc = await nats.connect(stack.nats_url)
    try:
        subscription = await nc.jetstream().pull_subscribe_bind(durable=durable, stream=bus.USAGE_STREAM.name)
        try:
            await subscription.fetch(1, timeout=0.5)
        except TimeoutError:
            return False
        return True
    finally:
        await nc.close()


async def _consumer_info(stack: RunningStack, durable: str) -> Any:
    nc = await nats.connect(stack.nats_url)
    try:
        return await nc.jetstream().consumer_info(bus.USAGE_STREAM.name, durable)
    finally:
        await nc.close()


def test_admin_changes_publish_key_and_budget_events(stack: RunningStack) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    with admin(stack) as http:
        created_project = http.post("/admin/projects", json={"name": unique("project"), "daily_budget_usd": "3"})
        project_id = created_project.json()["id"]
        created_key = http.post(f"/admin/projects/{project_id}/keys", json={"name": "events"})
        key = created_key.json()
        revoked = http.delete(f"/admin/projects/{project_id}/keys/{key['id']}")
        patched = http.patch(f"/admin/projects/{project_id}", json={"budget_alert_threshold": "0.5"})
    assert patched.status_code == 200, patched.text

    budgets = events_of(stack, ProjectBudgetChanged, since, lambda event: event.project_id == project_id, count=2)
    [(_, created_payload, created)] = events_of(stack, ApiKeyCreated, since, lambda event: event.key_id == key["id"])
    [(_, _, revoke)] = events_of(stack, ApiKeyRevoked, since, lambda event: event.key_id == key["id"])

    assert_envelope(budgets[0][2], created_project.headers["x-request-id"], project_id)
    assert_envelope(budgets[1][2], patched.headers["x-request-id"], project_id)
    assert budgets[1][2].daily_budget_usd == Decimal("3")
    assert budgets[1][2].budget_alert_threshold == Decimal("0.5")
    assert_envelope(created, created_key.headers["x-request-id"], project_id)
    assert created.prefix == key["prefix"]
    assert key["key"].encode() not in created_payload
    assert key["key"][len(key["prefix"]) :].encode() not in created_payload
    assert_envelope(revoke, revoked.headers["x-request-id"], project_id)


def test_catalog_change_publishes_entry_changed(stack: RunningStack) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)

    entry = add_custom_model(stack, ["text", "streaming"])

    [(_, _, event)] = events_of(stack, CatalogEntryChanged, since, lambda event: event.model_id == entry["id"])
    assert event.change == "created"
    assert event.provider == "selfhosted"
    assert event.project_id is None
    assert event.retired is False


def test_session_events_omit_content(stack: RunningStack) -> None:
    project = create_project(stack)
    key = create_key(stack, project["id"])
    session = unique("session")
    marker = unique("secret-words")
    since = datetime.now(UTC) - timedelta(seconds=1)
    raw = stack.client(key["key"]).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": marker}], extra_body={"session_id": session}
    )
    raw.parse()
    request_id = raw.headers["x-request-id"]
    subject = session_turn_subject(project["id"], session)

    turns = events_of(stack, SessionTurnAppended, since, lambda event: True, count=2, subject=subject)

    assert sorted(event.role for _, _, event in turns) == ["assistant", "user"]
    for _, payload, event in turns:
        assert_envelope(event, request_id, project["id"])
        assert event.session_id == session
        assert event.message is None
        assert marker.encode() not in payload

    with stack.http() as http:
        deleted = http.delete(f"/v1/sessions/{session}", headers={"Authorization": f"Bearer {key['key']}"})
    assert deleted.status_code == 200, deleted.text
    [(_, _, gone)] = events_of(stack, SessionDeleted, since, lambda event: event.session_id == session)
    assert_envelope(gone, deleted.headers["x-request-id"], project["id"])
    assert gone.deleted_turns == 2
    assert stack.loop.run(_read(stack, bus.SESSION_STREAM, subject, since, timeout=1.0)) == []


def test_spending_the_cap_publishes_budget_events(stack: RunningStack) -> None:
    project = create_project(stack, daily_budget_usd="1", budget_alert_threshold="0.5")
    key = create_key(stack, project["id"])
    since = datetime.now(UTC) - timedelta(seconds=1)
    usage = synthetic_event(project["id"], key["id"], Decimal("1"))

    stack.loop.run(publish_events(stack, [usage]))

    mine = lambda event: event.project_id == project["id"]  # noqa: E731
    [(_, _, crossed)] = events_of(stack, BudgetThresholdCrossed, since, mine)
    [(_, _, exhausted)] = events_of(stack, BudgetExhausted, since, mine)
    assert_envelope(crossed, usage.request_id, project["id"])
    assert crossed.threshold == Decimal("0.5")
    assert_envelope(exhausted, usage.request_id, project["id"])
    assert exhausted.spent_usd == Decimal("1")
    assert exhausted.cap_usd == Decimal("1")
    assert exhausted.resets_at > exhausted.occurred_at
