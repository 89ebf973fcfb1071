"""Each provider's failures reach the client in OpenAI's error shape with the status that keeps their meaning."""

from __future__ import annotations

import time

import nats
import openai
import pytest

from gateway_contracts import CatalogEntry, bus, catalog_key
from tests.conftest import RunningStack
from tests.providers import received_all, unique

# (model, status of the emulated provider's error, status and code the client gets)
CASES = [
    ("anthropic/claude-sonnet-4", 429, 429, "rate_limited"),
    ("anthropic/claude-sonnet-4", 529, 503, "upstream_overloaded"),
    ("anthropic/claude-sonnet-4", 400, 400, "context_length_exceeded"),
    ("anthropic/claude-sonnet-4", 401, 502, "upstream_auth_failed"),
    ("anthropic/claude-sonnet-4", 500, 502, "upstream_error"),
    ("google/gemini-2.5-flash", 429, 429, "rate_limited"),
    ("google/gemini-2.5-flash", 503, 503, "upstream_overloaded"),
    ("google/gemini-2.5-flash", 400, 400, "context_length_exceeded"),
    ("google/gemini-2.5-flash", 401, 502, "upstream_auth_failed"),
    ("google/gemini-2.5-flash", 500, 502, "upstream_error"),
    ("deepseek/deepseek-r1", 429, 429, "rate_limited"),
    ("deepseek/deepseek-r1", 503, 503, "upstream_overloaded"),
    ("deepseek/deepseek-r1", 400, 400, "context_length_exceeded"),
    ("deepseek/deepseek-r1", 401, 502, "upstream_auth_failed"),
    ("deepseek/deepseek-r1", 402, 502, "upstream_error"),
    ("openai/o4-mini", 429, 429, "rate_limited"),
    ("openai/o4-mini", 503, 503, "upstream_overloaded"),
    ("openai/o4-mini", 400, 400, "context_length_exceeded"),
    ("openai/o4-mini", 401, 502, "upstream_auth_failed"),
]
KEY_VARIABLES = {
    "anthropic/claude-sonnet-4": "ANTHROPIC_API_KEY",
    "google/gemini-2.5-flash": "GEMINI_API_KEY",
    "deepseek/deepseek-r1": "DEEPSEEK_API_KEY",
    "openai/o4-mini": "OPENAI_API_KEY",
}


@pytest.mark.parametrize(("model", "upstream", "status", "code"), CASES)
def test_upstream_error_keeps_its_meaning(
    stack: RunningStack, model: str, upstream: int, status: int, code: str
) -> None:
    marker = unique("error")
    body = {"model": model, "messages": [{"role": "user", "content": f"{marker}\n#emulate error={upstream}"}]}

    with stack.http() as http:
        response = http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {stack.api_key}"})

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "param", "code"}
    if code == "rate_limited":
        assert response.headers["retry-after"] == "1"
    if code == "upstream_auth_failed":
        assert KEY_VARIABLES[model] in error["message"]
        assert "emulator" not in response.text
    if code == "context_length_exceeded":
        assert error["param"] == "messages"


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "google/gemini-2.5-flash", "deepseek/deepseek-r1"])
def test_error_mid_stream_reaches_client_after_output(stack: RunningStack, model: str) -> None:
    stream = stack.client().chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"{unique('midstream')}\n#emulate words=6 error_after=2"}],
        stream=True,
    )

    content = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                content.append(chunk.choices[0].delta.content)
    assert "".join(content) == "word0 word1"


def test_overload_is_retried_before_the_first_byte(stack: RunningStack) -> None:
    marker = unique("retried")

    completion = stack.client().chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[{"role": "user", "content": f"{marker}\n#emulate error=529 error_times=2"}],
    )

    assert completion.choices[0].message.content.endswith(marker)
    assert len(received_all(stack, marker)) == 3


def test_stream_is_retried_before_the_first_byte(stack: RunningStack) -> None:
    marker = unique("retried-stream")

    chunks = list(
        stack.client().chat.completions.create(
            model="google/gemini-2.5-flash",
            messages=[{"role": "user", "content": f"{marker}\n#emulate error=503 error_times=1"}],
            stream=True,
        )
    )

    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices).endswith(marker)
    assert len(received_all(stack, marker)) == 2


def test_error_event_before_output_is_retried(stack: RunningStack) -> None:
    """Anthropic's overload can arrive as an event after `message_start`; no output reached the client yet."""
    marker = unique("retried-event")

    chunks = list(
        stack.client().chat.completions.create(
            model="anthropic/claude-sonnet-4",
            messages=[{"role": "user", "content": f"{marker}\n#emulate error_after=0 error_times=1"}],
            stream=True,
        )
    )

    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices).endswith(marker)
    assert [chunk.choices[0].delta.role for chunk in chunks if chunk.choices].count("assistant") == 1
    assert len(received_all(stack, marker)) == 2


def test_persistent_overload_gives_up_after_three_attempts(stack: RunningStack) -> None:
    marker = unique("overloaded")

    with pytest.raises(openai.InternalServerError) as caught:
        stack.client().chat.completions.create(
            model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": f"{marker}\n#emulate error=529"}]
        )

    assert caught.value.status_code == 503
    assert len(received_all(stack, marker)) == 3


@pytest.mark.parametrize("upstream", [400, 401])
def test_client_errors_are_not_retried(stack: RunningStack, upstream: int) -> None:
    marker = unique("not-retried")

    with pytest.raises(openai.APIStatusError):
        stack.client().chat.completions.create(
            model="anthropic/claude-sonnet-4",
            messages=[{"role": "user", "content": f"{marker}\n#emulate error={upstream}"}],
        )

    assert len(received_all(stack, marker)) == 1


def test_long_retry_after_goes_to_the_client_at_once(stack: RunningStack) -> None:
    """A `retry-after` longer than the router waits (0.5 s in the tests) is passed on, not waited for."""
    marker = unique("rate-limited")

    with pytest.raises(openai.RateLimitError):
        stack.client().chat.completions.create(
            model="google/gemini-2.5-flash", messages=[{"role": "user", "content": f"{marker}\n#emulate error=429"}]
        )

    assert len(received_all(stack, marker)) == 1


def test_request_fallback_serves_from_the_next_model(stack: RunningStack) -> None:
    marker = unique("fallback")
    content = f"{marker}\n#emulate error=529 error_for=claude-sonnet-4-20250514"

    completion = stack.client().chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[{"role": "user", "content": content}],
        extra_body={"models": ["google/gemini-2.5-flash"]},
    )

    assert completion.choices[0].message.content.startswith("Emulated reply from gemini-2.5-flash")
    paths = [record["path"] for record in received_all(stack, marker)]
    assert paths == ["/anthropic/v1/messages"] * 3 + ["/google/v1beta/models/gemini-2.5-flash:generateContent"]


def test_fallback_after_context_overflow(stack: RunningStack) -> None:
    marker = unique("fallback-context")
    content = f"{marker}\n#emulate error=400 error_for=deepseek-reasoner"

    completion = stack.client().chat.completions.create(
        model="deepseek/deepseek-r1",
        messages=[{"role": "user", "content": content}],
        extra_body={"models": ["anthropic/claude-sonnet-4"]},
    )

    assert completion.choices[0].message.content.startswith("Emulated reply from claude-sonnet-4-20250514")
    assert len(received_all(stack, marker)) == 2


def test_unknown_fallback_model_is_404(stack: RunningStack) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        stack.client().chat.completions.create(
            model="anthropic/claude-sonnet-4",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"models": ["nobody/nothing"]},
        )

    assert caught.value.body["param"] == "models[0]"


def test_catalog_entry_fallbacks_are_tried_after_the_request_models(stack: RunningStack) -> None:
    """An entry with `fallbacks`, published to the catalog bucket as the catalog service does after an admin change."""
    model = unique("anthropic/fallback")
    entry = CatalogEntry(
        id=model,
        provider="anthropic",
        upstream_name="claude-sonnet-4-20250514",
        fallbacks=["google/gemini-2.5-flash"],
    )
    stack.loop.run(_put_catalog_entry(stack, entry))
    try:
        wait_until_listed(stack, model)
        marker = unique("entry-fallback")

        completion = stack.client().chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"{marker}\n#emulate error=529 error_for=claude-sonnet-4-20250514"}],
        )
    finally:
        stack.loop.run(_delete_catalog_entry(stack, model))

    assert completion.choices[0].message.content.startswith("Emulated reply from gemini-2.5-flash")
    assert len(received_all(stack, marker)) == 4


def wait_until_listed(stack: RunningStack, model: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stack.client().models.retrieve(model)
            return
        except openai.NotFoundError:
            time.sleep(0.05)
    pytest.fail(f"{model} did not reach the edge within {timeout} s")


async def _put_catalog_entry(stack: RunningStack, entry: CatalogEntry) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        bucket = await nc.jetstream().key_value(bus.CATALOG_BUCKET.name)
        await bucket.put(catalog_key(entry.id), entry.model_dump_json().encode())
    finally:
        await nc.close()


async def _delete_catalog_entry(stack: RunningStack, model: str) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        bucket = await nc.jetstream().key_value(bus.CATALOG_BUCKET.name)
        await bucket.delete(catalog_key(model))
    finally:
        await nc.close()


def test_held_role_chunk_goes_out_while_upstream_is_silent(stack: RunningStack) -> None:
    """The role chunk waits for output so a failure can be retried, but not past a heartbeat (1 s in the tests)."""
    content = f"{unique('held')}\n#emulate words=1 delay_ms=2500"
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()

    with stack.http() as http:
        with http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": content}], "stream": True},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    arrivals.append((time.monotonic() - started, line))
                if '"content":"word0"' in line:
                    break

    role_at, role = arrivals[0]
    content_at = arrivals[-1][0]
    assert '"role":"assistant"' in role
    assert content_at - role_at > 0.5
