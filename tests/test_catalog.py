"""The model catalog end to end: the file, the admin API, propagation, capability checks, aliases."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import nats
import openai
import pytest

from gateway_catalog.loader import load_entries
from gateway_contracts import bus, catalog_key
from tests.conftest import CUSTOM_MODEL_KEY, CUSTOM_MODEL_KEY_ENV, RunningStack

FILE_MODEL = "deepseek/deepseek-chat"


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def today() -> date:
    return datetime.now(UTC).date()


def admin(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=30, headers={"Authorization": f"Bearer {stack.admin_token}"})


def user(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, timeout=30, headers={"Authorization": f"Bearer {stack.api_key}"})


def add_custom_model(stack: RunningStack, capabilities: list[str], **fields: Any) -> dict[str, Any]:
    """Add a model served by the emulator's vLLM route, as an admin adds a self-hosted one."""
    name = unique("model")
    entry = {
        "id": f"selfhosted/{name}",
        "provider": "selfhosted",
        "upstream_name": f"upstream-{name}",
        "context_window": 32768,
        "capabilities": capabilities,
        "base_url": f"{stack.emulator_url}/vllm/v1",
        "api_key_env": CUSTOM_MODEL_KEY_ENV,
        "prices": [{"effective_from": "2024-01-01", "input": "0", "output": "0"}],
        **fields,
    }
    with admin(stack) as http:
        response = http.post("/admin/models", json=entry)
    assert response.status_code == 201, response.text
    return response.json()["entry"]


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll `condition` until it is true and return the seconds that took, or fail after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def ask(stack: RunningStack, model: str, marker: str, **extra: Any):
    return stack.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"Hello {marker}"}], **extra
    )


@pytest.fixture(scope="module")
def text_only_model(stack: RunningStack) -> dict[str, Any]:
    return add_custom_model(stack, ["text", "streaming"])


@pytest.fixture(scope="module")
def full_model(stack: RunningStack) -> dict[str, Any]:
    return add_custom_model(stack, ["text", "vision", "pdf", "audio_input", "tools", "streaming"])


def test_catalog_file_is_loaded(stack: RunningStack) -> None:
    entries = load_entries(None)

    with user(stack) as http:
        listed = {model["id"]: model for model in http.get("/v1/models").json()["data"]}

    assert len(entries) >= 20
    for entry in entries:
        model = listed[entry.id]
        assert model["provider"] == entry.provider
        assert model["upstream_name"] == entry.upstream_name
        assert model["context_window"] == entry.context_window
        assert model["max_output_tokens"] == entry.max_output_tokens
        assert model["capabilities"] == entry.capabilities
        price = entry.price_at(today())
        assert model["pricing"] == (price.model_dump(mode="json") if price else None)


def test_models_list_through_openai_package(stack: RunningStack) -> None:
    models = list(stack.client().models.list())

    ids = [model.id for model in models]
    assert "openai/gpt-4o-mini" in ids
    assert FILE_MODEL in ids
    first = next(model for model in models if model.id == "openai/gpt-4o-mini")
    assert first.object == "model"
    assert first.owned_by == "openai"
    assert first.model_extra is not None
    assert first.model_extra["context_window"] == 128000
    assert "vision" in first.model_extra["capabilities"]
    assert first.model_extra["pricing"]["input"] == "0.15"
    assert stack.client().models.retrieve("openai/gpt-4o-mini").id == "openai/gpt-4o-mini"


def test_models_filter_by_capability_and_provider(stack: RunningStack) -> None:
    with user(stack) as http:
        vision = http.get("/v1/models", params={"capability": "vision"}).json()["data"]
        both = http.get("/v1/models", params=[("capability", "vision"), ("capability", "tools")]).json()["data"]
        deepseek = http.get("/v1/models", params={"provider": "deepseek"}).json()["data"]
        unknown = http.get("/v1/models", params={"capability": "telepathy"})

    assert vision
    assert all("vision" in model["capabilities"] for model in vision)
    assert FILE_MODEL not in [model["id"] for model in vision]
    assert all({"vision", "tools"} <= set(model["capabilities"]) for model in both)
    assert deepseek
    assert {model["provider"] for model in deepseek} == {"deepseek"}
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invalid_request"
    assert unknown.json()["error"]["param"] == "capability"


def test_admin_change_survives_catalog_restart(stack: RunningStack) -> None:
    display_name = unique("Renamed by an admin")
    with admin(stack) as http:
        original = http.get(f"/admin/models/{FILE_MODEL}").json()["entry"]
        changed = http.patch(f"/admin/models/{FILE_MODEL}", json={"display_name": display_name, "context_window": 4096})
        assert changed.status_code == 200, changed.text
        assert changed.json()["source"] == "admin"

    try:
        # While the catalog is down its KV entry goes missing, so the model
        # can only come back from PostgreSQL, as the admin left it.
        stack.loop.run(stack.stack.stop_service("catalog"))
        stack.loop.run(_delete_catalog_key(stack.nats_url, FILE_MODEL))
        stack.loop.run(stack.stack.start_service("catalog"))

        with admin(stack) as http:
            wait_for(lambda: http.get("/admin/models").status_code == 200, 60, "the catalog's restart")
            stored = http.get(f"/admin/models/{FILE_MODEL}").json()
        assert stored["source"] == "admin"
        assert stored["entry"]["display_name"] == display_name

        with user(stack) as http:
            wait_for(lambda: http.get(f"/v1/models/{FILE_MODEL}").status_code == 200, 5, "the republication")
            model = http.get(f"/v1/models/{FILE_MODEL}").json()
        assert model["display_name"] == display_name
        assert model["context_window"] == 4096
    finally:
        with admin(stack) as http:
            restore = {"display_name": original["display_name"], "context_window": original["context_window"]}
            http.patch(f"/admin/models/{FILE_MODEL}", json=restore)


async def _delete_catalog_key(nats_url: str, model_id: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        bucket = await nc.jetstream().key_value(bus.CATALOG_BUCKET.name)
        await bucket.delete(catalog_key(model_id))
    finally:
        await nc.close()


def test_change_reaches_edge_within_a_second(stack: RunningStack, text_only_model: dict[str, Any]) -> None:
    model_id = text_only_model["id"]
    display_name = unique("Quick")

    with admin(stack) as http, user(stack) as reader:
        started = time.monotonic()
        assert http.patch(f"/admin/models/{model_id}", json={"display_name": display_name}).status_code == 200
        wait_for(
            lambda: reader.get(f"/v1/models/{model_id}").json()["display_name"] == display_name,
            1.0 - (time.monotonic() - started),
            "the change at the edge",
        )


def test_change_reaches_router_within_a_second(stack: RunningStack) -> None:
    model = add_custom_model(stack, ["text", "streaming"])
    renamed = unique("renamed-upstream")
    marker = unique("router")

    def router_uses_new_name() -> bool:
        ask(stack, model["id"], marker)
        return any(record["body"]["model"] == renamed for record in stack.received_with(marker))

    with admin(stack) as http:
        started = time.monotonic()
        assert http.patch(f"/admin/models/{model['id']}", json={"upstream_name": renamed}).status_code == 200
    wait_for(router_uses_new_name, 1.0 - (time.monotonic() - started), "the change at the router")


CAPABILITY_CASES = [
    pytest.param(
        {"content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        "vision",
        "messages[0].content[1]",
        id="image",
    ),
    pytest.param(
        {"content": [{"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}]},
        "pdf",
        "messages[0].content[1]",
        id="pdf",
    ),
    pytest.param(
        {"content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
        "audio_input",
        "messages[0].content[1]",
        id="audio",
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}]},
        "tools",
        "tools",
        id="tools",
    ),
]


def capability_request(model: str, marker: str, case: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": f"Look {marker}"}, *case.get("content", [])]
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if "tools" in case:
        body["tools"] = case["tools"]
    return body


@pytest.mark.parametrize(("case", "capability", "param"), CAPABILITY_CASES)
def test_capability_check_rejects_before_upstream(
    stack: RunningStack,
    text_only_model: dict[str, Any],
    full_model: dict[str, Any],
    case: dict[str, Any],
    capability: str,
    param: str,
) -> None:
    marker = unique(capability)
    body = capability_request(text_only_model["id"], marker, case)

    with pytest.raises(openai.BadRequestError) as caught:
        stack.client().chat.completions.create(**body)

    error = caught.value.body
    assert isinstance(error, dict)
    assert caught.value.status_code == 400
    assert error["code"] == "capability_not_supported"
    assert error["param"] == param
    assert f"capability `{capability}`" in error["message"]
    assert f"`{full_model['id']}`" in error["message"]
    assert stack.received_with(marker) == []


@pytest.mark.parametrize(("case", "capability", "param"), CAPABILITY_CASES)
def test_capable_model_gets_same_request(
    stack: RunningStack, full_model: dict[str, Any], case: dict[str, Any], capability: str, param: str
) -> None:
    marker = unique(capability)

    stack.client().chat.completions.create(**capability_request(full_model["id"], marker, case))

    [received] = stack.received_with(marker)
    assert received["body"]["model"] == full_model["upstream_name"]


def test_capability_error_suggests_models_that_have_it(stack: RunningStack) -> None:
    marker = unique("suggest")
    body = capability_request(FILE_MODEL, marker, CAPABILITY_CASES[0].values[0])

    with user(stack) as http:
        response = http.post("/v1/chat/completions", json=body)
        vision_models = [model["id"] for model in http.get("/v1/models?capability=vision").json()["data"]]

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert f"The model `{FILE_MODEL}` does not support image input (capability `vision`)." in message
    assert any(f"`{model_id}`" in message for model_id in vision_models)
    assert stack.received_with(marker) == []


def test_alias_resolves_before_dispatch(stack: RunningStack, text_only_model: dict[str, Any]) -> None:
    alias = unique("fast")
    other = add_custom_model(stack, ["text", "streaming"])

    with admin(stack) as http:
        created = http.put(f"/admin/aliases/{alias}", json={"model": text_only_model["id"]})
    assert created.status_code == 200, created.text
    with user(stack) as reader:
        wait_for(lambda: reader.get(f"/v1/models/{alias}").status_code == 200, 1.0, "the alias at the edge")

    marker = unique("alias")
    completion = ask(stack, alias, marker)
    [received] = stack.received_with(marker)
    assert received["body"]["model"] == text_only_model["upstream_name"]
    assert completion.choices[0].message.content

    listed = {model.id: model for model in stack.client().models.list()}
    assert listed[alias].model_extra is not None
    assert listed[alias].model_extra["alias_for"] == text_only_model["id"]
    assert alias in listed[text_only_model["id"]].model_extra["aliases"]

    with admin(stack) as http, user(stack) as reader:
        assert http.put(f"/admin/aliases/{alias}", json={"model": other["id"]}).status_code == 200
        wait_for(lambda: reader.get(f"/v1/models/{alias}").json()["alias_for"] == other["id"], 1.0, "re-pointing")
        assert http.delete(f"/admin/aliases/{alias}").status_code == 200
        wait_for(lambda: reader.get(f"/v1/models/{alias}").status_code == 404, 1.0, "the deletion")

    with pytest.raises(openai.NotFoundError):
        ask(stack, alias, unique("gone"))


def test_alias_rejects_unknown_model_and_bad_name(stack: RunningStack) -> None:
    with admin(stack) as http:
        unknown = http.put(f"/admin/aliases/{unique('a')}", json={"model": "openai/no-such-model"})
        bad_name = http.put("/admin/aliases/bad:name", json={"model": FILE_MODEL})

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert bad_name.status_code == 400
    assert bad_name.json()["error"]["param"] == "alias"


def test_alias_to_alias_names_the_model(stack: RunningStack) -> None:
    first, second = unique("first"), unique("second")

    with admin(stack) as http:
        assert http.put(f"/admin/aliases/{first}", json={"model": FILE_MODEL}).status_code == 200
        chained = http.put(f"/admin/aliases/{second}", json={"model": first})
        assert http.delete(f"/admin/aliases/{first}").status_code == 200

    assert chained.status_code == 400
    assert chained.json()["error"]["code"] == "invalid_request"
    assert f"alias of `{FILE_MODEL}`" in chained.json()["error"]["message"]


def test_retire_and_restore_model(stack: RunningStack) -> None:
    model = add_custom_model(stack, ["text", "streaming"])
    alias = unique("pinned")

    with admin(stack) as http, user(stack) as reader:
        assert http.put(f"/admin/aliases/{alias}", json={"model": model["id"]}).status_code == 200
        blocked = http.delete(f"/admin/models/{model['id']}")
        assert blocked.status_code == 409
        assert f"`{alias}`" in blocked.json()["error"]["message"]

        assert http.delete(f"/admin/aliases/{alias}").status_code == 200
        retired = http.delete(f"/admin/models/{model['id']}")
        assert retired.status_code == 200
        assert retired.json()["retired"] is True
        wait_for(lambda: reader.get(f"/v1/models/{model['id']}").status_code == 404, 1.0, "the retirement")
        with pytest.raises(openai.NotFoundError):
            ask(stack, model["id"], unique("retired"))

        assert http.patch(f"/admin/models/{model['id']}", json={"retired": False}).status_code == 200
        wait_for(lambda: reader.get(f"/v1/models/{model['id']}").status_code == 200, 1.0, "the restoration")


def test_custom_model_uses_its_base_url_and_key(stack: RunningStack, text_only_model: dict[str, Any]) -> None:
    marker = unique("custom")

    ask(stack, text_only_model["id"], marker)

    [received] = stack.received_with(marker)
    assert received["path"] == "/vllm/v1/chat/completions"
    assert received["headers"]["Authorization"] == f"Bearer {CUSTOM_MODEL_KEY}"
    assert received["body"]["model"] == text_only_model["upstream_name"]
    with user(stack) as http:
        listed = http.get(f"/v1/models/{text_only_model['id']}").json()
    assert listed["availability"] == "custom"
    assert listed["pricing"]["input"] == "0"
    assert listed["pricing"]["output"] == "0"


def test_custom_model_without_its_key_is_503(stack: RunningStack) -> None:
    model = add_custom_model(stack, ["text", "streaming"], api_key_env="GATEWAY_MODEL_KEY_NOT_SET")
    marker = unique("nokey")

    with pytest.raises(openai.InternalServerError) as caught:
        ask(stack, model["id"], marker)

    assert caught.value.status_code == 503
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "provider_not_configured"
    assert "GATEWAY_MODEL_KEY_NOT_SET" in caught.value.body["message"]
    assert stack.received_with(marker) == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"base_url": "ftp://models.internal/v1"}, "base_url"),
        ({"base_url": "file:///etc/passwd"}, "base_url"),
        ({"base_url": "http://user:secret@models.internal/v1"}, "base_url"),
        ({"api_key_env": "OPENAI_API_KEY"}, "api_key_env"),
        ({"capabilities": ["text", "telepathy"]}, "capabilities[1]"),
        ({"prices": [{"effective_from": "2025-01-01", "input": "-1"}]}, "prices[0].input"),
    ],
)
def test_invalid_custom_model_leaves_no_trace(stack: RunningStack, fields: dict[str, Any], param: str) -> None:
    model_id = f"selfhosted/{unique('bad')}"
    entry = {
        "id": model_id,
        "provider": "selfhosted",
        "upstream_name": "bad",
        "base_url": "https://models.internal/v1",
        **fields,
    }

    with admin(stack) as http:
        response = http.post("/admin/models", json=entry)
        lookup = http.get(f"/admin/models/{model_id}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == param
    assert lookup.status_code == 404


def test_duplicate_model_is_409(stack: RunningStack) -> None:
    with admin(stack) as http:
        existing = http.get(f"/admin/models/{FILE_MODEL}").json()["entry"]
        response = http.post("/admin/models", json=existing)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_price_change_with_future_date(stack: RunningStack) -> None:
    model = add_custom_model(stack, ["text", "streaming"])
    tomorrow = (today() + timedelta(days=1)).isoformat()
    path = f"/admin/models/{model['id']}/prices"

    with admin(stack) as http, user(stack) as reader:
        scheduled = http.post(path, json={"effective_from": tomorrow, "input": "1.5", "output": "6", "source": "test"})
        assert scheduled.status_code == 201, scheduled.text
        wait_for(lambda: reader.get(f"/v1/models/{model['id']}").json()["scheduled_pricing"], 1.0, "the schedule")
        listed = reader.get(f"/v1/models/{model['id']}").json()
        assert listed["pricing"]["input"] == "0"
        assert [price["input"] for price in listed["scheduled_pricing"]] == ["1.5"]

        past = http.post(path, json={"effective_from": "2020-01-01", "input": "9"})
        assert past.status_code == 400
        assert past.json()["error"]["code"] == "invalid_request"

        assert http.delete(f"{path}/{tomorrow}").status_code == 200
        assert http.delete(f"{path}/{tomorrow}").status_code == 404

        assert http.post(path, json={"effective_from": today().isoformat(), "input": "0.25"}).status_code == 201
        wait_for(lambda: reader.get(f"/v1/models/{model['id']}").json()["pricing"]["input"] == "0.25", 1.0, "today")


@pytest.mark.parametrize(
    ("prices", "param", "expected"),
    [
        ({"input": "1e308"}, "input", "1E+308 is more than the maximum price of 100000 USD"),
        ({"output": "-1"}, "output", "negative"),
        ({"per_request": "0.000000000001"}, "per_request", "10 decimal places"),
        ({"tiers": [{"above_prompt_tokens": 200000, "input": "100001"}]}, "tiers[0].input", "maximum price"),
    ],
)
def test_absurd_prices_are_rejected(stack: RunningStack, prices: dict, param: str, expected: str) -> None:
    model = add_custom_model(stack, ["text", "streaming"])

    with admin(stack) as http:
        response = http.post(
            f"/admin/models/{model['id']}/prices", json={"effective_from": today().isoformat(), **prices}
        )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert expected in response.json()["error"]["message"]


def test_catalog_admin_needs_admin_token(stack: RunningStack) -> None:
    with user(stack) as http:
        response = http.get("/admin/models")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
