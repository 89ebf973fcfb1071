"""End to end through the `openai` package: edge, NATS, router, emulator, accounting, sessions."""

from __future__ import annotations

import time
import uuid

import httpx
import openai
import pytest

from tests.conftest import RunningStack

MODEL = "openai/gpt-4o-mini"


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def wait_until(condition, timeout: float = 10.0, interval: float = 0.1):
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def usage_rows(stack: RunningStack, api_key: str | None = None) -> list[dict]:
    with stack.http() as http:
        response = http.get("/v1/usage", headers={"Authorization": f"Bearer {api_key or stack.api_key}"})
    assert response.status_code == 200
    return response.json()["data"]


def test_non_streaming_completion(stack: RunningStack) -> None:
    marker = unique("plain")

    completion = stack.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"Say hello {marker}"}]
    )

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == f"Emulated reply from gpt-4o-mini: Say hello {marker}"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 6
    assert completion.usage.completion_tokens == 7


def test_upstream_receives_mapped_model_and_messages(stack: RunningStack) -> None:
    marker = unique("mapped")

    stack.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": marker}], temperature=0.5, max_tokens=50
    )

    [received] = stack.received_with(marker)
    assert received["path"] == "/openai/v1/chat/completions"
    assert received["headers"]["Authorization"] == "Bearer emulator"
    assert received["body"]["model"] == "gpt-4o-mini"
    assert received["body"]["messages"] == [{"role": "user", "content": marker}]
    assert received["body"]["temperature"] == 0.5
    assert received["body"]["max_tokens"] == 50
    assert "session_id" not in received["body"]


def test_streaming_completion(stack: RunningStack) -> None:
    marker = unique("stream")

    chunks = list(
        stack.client().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Stream {marker}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == f"Emulated reply from gpt-4o-mini: Stream {marker}"
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


def test_streaming_without_usage_option_has_no_usage_chunk(stack: RunningStack) -> None:
    chunks = list(
        stack.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": unique("nousage")}], stream=True
        )
    )

    assert all(chunk.choices for chunk in chunks)


def test_stream_arrives_chunk_by_chunk(stack: RunningStack) -> None:
    """With 300 ms between upstream chunks, the first chunk reaches the client long before the last."""
    content = f"{unique('paced')}\n#emulate words=4 delay_ms=300"
    arrivals = []
    started = time.monotonic()

    for chunk in stack.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)

    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] > 0.6


def test_usage_endpoint_counts_both_modes(stack: RunningStack) -> None:
    key = create_key(stack)
    client = stack.client(api_key=key)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "one"}])
    list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "two"}], stream=True))

    rows = wait_until(lambda: [row for row in usage_rows(stack, key) if row["requests"] >= 2])

    [row] = rows
    assert row["model"] == MODEL
    assert row["requests"] == 2
    assert row["errors"] == 0
    assert row["prompt_tokens"] == 8
    assert row["completion_tokens"] == 10
    assert row["total_tokens"] == 18
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
    assert row["cost_usd"] == "0.0000072"


def test_missing_key_is_401(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post("/v1/chat/completions", json={"model": MODEL, "messages": []})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"
    assert response.json()["error"]["type"] == "authentication_error"


def test_unknown_key_is_401(stack: RunningStack) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        stack.client(api_key="gw-not-a-real-key").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def test_admin_token_is_not_an_api_key(stack: RunningStack) -> None:
    with pytest.raises(openai.AuthenticationError):
        stack.client(api_key=stack.admin_token).models.list()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"model": MODEL, "messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 3}, "temperature"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "session_id": "a b"}, "session_id"),
    ],
)
def test_schema_violation_is_400_naming_field(stack: RunningStack, body: dict, param: str) -> None:
    with stack.http() as http:
        response = http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {stack.api_key}"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert f"`{param}`" in error["message"]


def test_malformed_json_is_400(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions", content=b'{"model": ', headers={"Authorization": f"Bearer {stack.api_key}"}
        )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_model_is_404_naming_model(stack: RunningStack) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        stack.client().chat.completions.create(
            model="openai/no-such-model", messages=[{"role": "user", "content": "x"}]
        )

    assert caught.value.code == "model_not_found"
    assert "`openai/no-such-model`" in caught.value.message


def test_oversized_body_is_413_and_never_dispatched(stack: RunningStack) -> None:
    marker = unique("huge")
    filler = "x" * (64 * 1024 * 1024 + 1)

    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            content=f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "{marker} {filler}"}}]}}',
            headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"},
        )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stack.received_with(marker) == []


def test_body_larger_than_a_nats_message_goes_through(stack: RunningStack) -> None:
    """A 9 MB body exceeds the local NATS max_payload of 8 MB and travels through the object store."""
    marker = unique("large")
    image = "data:image/png;base64," + "A" * (9 * 1024 * 1024)

    completion = stack.client().chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": marker}, {"type": "image_url", "image_url": {"url": image}}],
            }
        ],
    )

    assert completion.choices[0].message.content.endswith(marker)
    [received] = stack.received_with(marker)
    assert received["body"]["messages"][0]["content"][1]["image_url"]["url"] == image


def test_unknown_route_uses_openai_error_shape(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_models_list_marks_emulated_models(stack: RunningStack) -> None:
    models = {model.id: model for model in stack.client().models.list()}

    assert MODEL in models
    entry = models[MODEL].model_dump()
    assert entry["object"] == "model"
    assert entry["owned_by"] == "openai"
    assert entry["emulated"] is True
    assert entry["availability"] == "emulated"
    assert entry["pricing"]["input"] == "0.15"


def test_model_retrieve_by_id_with_slash(stack: RunningStack) -> None:
    model = stack.client().models.retrieve(MODEL)

    assert model.id == MODEL


def test_health_and_readiness(stack: RunningStack) -> None:
    with stack.http() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json() == {"status": "ready"}


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (429, openai.RateLimitError, "rate_limited"),
        (400, openai.BadRequestError, "context_length_exceeded"),
        (401, openai.APIStatusError, "upstream_auth_failed"),
        (503, openai.InternalServerError, "upstream_overloaded"),
        (500, openai.APIStatusError, "upstream_error"),
    ],
)
def test_upstream_error_mapping(stack: RunningStack, status: int, error_class: type, code: str) -> None:
    with pytest.raises(error_class) as caught:
        stack.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"{unique('fail')}\n#emulate error={status}"}]
        )

    assert caught.value.code == code
    assert "emulator" not in str(caught.value.message)


def test_rate_limit_keeps_retry_after(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "#emulate error=429"}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )

    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


def test_upstream_auth_failure_is_502_without_secret(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "#emulate error=401"}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )

    assert response.status_code == 502
    assert "OPENAI_API_KEY" in response.json()["error"]["message"]
    assert stack.api_key not in response.text


def test_error_mid_stream_reaches_client(stack: RunningStack) -> None:
    stream = stack.client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"{unique('midstream')}\n#emulate words=6 error_after=2"}],
        stream=True,
    )

    with pytest.raises(openai.APIError):
        for _chunk in stream:
            pass


def test_client_disconnect_closes_upstream_within_a_second(stack: RunningStack) -> None:
    marker = unique("disconnect")
    content = f"{marker}\n#emulate words=100 delay_ms=200"

    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        with http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": True},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        ) as response:
            lines = response.iter_lines()
            while "content" not in next(lines):
                pass
            closed_at = time.time()

    [received] = wait_until(lambda: stack.received_with(marker))
    disconnect = wait_until(
        lambda: [record for record in stack.emulator_disconnects() if record["seq"] == received["seq"]], timeout=3
    )[0]
    assert disconnect["at"] - closed_at < 1.0
    assert disconnect["chunks_sent"] < 20


def test_cancelled_stream_is_still_accounted(stack: RunningStack) -> None:
    key = create_key(stack)
    content = f"{unique('cancelled')}\n#emulate words=100 delay_ms=100"

    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        with http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": True},
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            lines = response.iter_lines()
            while '"content":"word' not in next(lines):
                pass

    [row] = wait_until(lambda: usage_rows(stack, key))
    assert row["requests"] == 1
    assert row["completion_tokens"] > 0


def test_session_history_is_prepended(stack: RunningStack) -> None:
    session = unique("session")
    client = stack.client()
    first = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"first {session}"}], extra_body={"session_id": session}
    )

    def history_stored() -> bool:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"probe {session}"}],
            extra_body={"session_id": unique("other")},
        )
        return True

    wait_until(lambda: _session_has_turns(stack, session, 2))
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"second {session}"}], extra_body={"session_id": session}
    )

    received = [record for record in stack.received_with(f"second {session}")]
    assert received[-1]["body"]["messages"] == [
        {"role": "user", "content": f"first {session}"},
        {"role": "assistant", "content": first.choices[0].message.content, "refusal": None, "annotations": []},
        {"role": "user", "content": f"second {session}"},
    ]


def test_session_from_header_and_other_project_is_isolated(stack: RunningStack) -> None:
    session = unique("isolated")
    stack.client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"secret {session}"}],
        extra_headers={"x-session-id": session},
    )
    wait_until(lambda: _session_has_turns(stack, session, 2))

    other_key = create_key(stack, project=unique("project"))
    stack.client(api_key=other_key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"intruder {session}"}], extra_body={"session_id": session}
    )

    [received] = stack.received_with(f"intruder {session}")
    assert received["body"]["messages"] == [{"role": "user", "content": f"intruder {session}"}]


def test_revoked_key_stops_working_within_a_second(stack: RunningStack) -> None:
    record = create_key_record(stack)
    client = stack.client(api_key=record["key"])
    client.models.list()

    revoke_key(stack, record)
    revoked_at = time.monotonic()

    def rejected() -> bool:
        try:
            client.models.list()
        except openai.AuthenticationError:
            return True
        return False

    wait_until(rejected, timeout=1.0, interval=0.05)
    assert time.monotonic() - revoked_at < 1.0


def _session_has_turns(stack: RunningStack, session: str, count: int) -> bool:
    from gateway_contracts import bus
    from gateway_contracts.rpc import HistoryReply, HistoryRequest

    project_id = stack.loop.run(_project_of(stack, stack.api_key))
    reply = stack.loop.run(
        _rpc(stack, bus.SESSIONS_HISTORY, HistoryRequest(project_id=project_id, session_id=session), HistoryReply)
    )
    return len(reply.messages) >= count


async def _project_of(stack: RunningStack, api_key: str) -> str:
    import hashlib

    import nats

    from gateway_contracts import CredentialRecord, bus

    nc = await nats.connect(stack.nats_url)
    try:
        bucket = await nc.jetstream().key_value(bus.AUTH_BUCKET.name)
        entry = await bucket.get(hashlib.sha256(api_key.encode()).hexdigest())
        return CredentialRecord.model_validate_json(entry.value).project_id or ""
    finally:
        await nc.close()


async def _rpc(stack: RunningStack, subject: str, request, reply_model):
    import nats

    from gateway_contracts.rpc_nats import call

    nc = await nats.connect(stack.nats_url)
    try:
        return await call(nc, subject, request, reply_model, timeout=5)
    finally:
        await nc.close()


def create_key(stack: RunningStack, project: str | None = None) -> str:
    """A fresh API key in a fresh project, created through the admin API."""
    return create_key_record(stack, project)["key"]


def create_key_record(stack: RunningStack, project: str | None = None) -> dict:
    with stack.http() as http:
        headers = {"Authorization": f"Bearer {stack.admin_token}"}
        created = http.post("/admin/projects", json={"name": project or unique("project")}, headers=headers)
        assert created.status_code == 201, created.text
        key = http.post(f"/admin/projects/{created.json()['id']}/keys", json={"name": "test"}, headers=headers)
        assert key.status_code == 201, key.text
        return key.json()


def revoke_key(stack: RunningStack, record: dict) -> None:
    with stack.http() as http:
        response = http.delete(
            f"/admin/projects/{record['project_id']}/keys/{record['id']}",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        )
    assert response.status_code == 200, response.text
