"""The capability rules and the 400 they raise, without a stack."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_contracts import CatalogEntry, ChatCompletionRequest, ModelAlias
from gateway_contracts.kv import BucketMirror
from gateway_edge.capabilities import Requirement, check_capabilities, requirements
from gateway_edge.catalog import ModelDirectory
from gateway_edge.errors import EdgeError

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
PDF = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
TOOL = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}


def chat(content: Any = "hi", **fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "x/y", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]}
        | fields
    )


def entry(model_id: str, capabilities: list[str]) -> CatalogEntry:
    return CatalogEntry(id=model_id, provider=model_id.split("/")[0], upstream_name="u", capabilities=capabilities)


def directory(*entries: CatalogEntry) -> ModelDirectory:
    models: BucketMirror[CatalogEntry] = BucketMirror(bucket=None, model=CatalogEntry)  # type: ignore[arg-type]  # never started
    aliases: BucketMirror[ModelAlias] = BucketMirror(bucket=None, model=ModelAlias)  # type: ignore[arg-type]  # never started
    for item in entries:
        models.records[item.id] = item
    return ModelDirectory(models, aliases)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (chat(), []),
        (
            chat([{"type": "text", "text": "a"}, IMAGE]),
            [Requirement("vision", "messages[1].content[1]", "image input")],
        ),
        (chat([PDF]), [Requirement("pdf", "messages[1].content[0]", "PDF input")]),
        (chat([AUDIO]), [Requirement("audio_input", "messages[1].content[0]", "audio input")]),
        (chat(tools=[TOOL]), [Requirement("tools", "tools", "tool calling")]),
        (chat(functions=[TOOL["function"]]), [Requirement("tools", "functions", "function calling")]),
        (
            chat(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}),
            [Requirement("structured_output", "response_format", "structured output with a JSON schema")],
        ),
        (chat(response_format={"type": "json_object"}), []),
        (chat(modalities=["text", "audio"]), [Requirement("audio_output", "modalities", "audio output")]),
        (chat(stream=True), [Requirement("streaming", "stream", "streaming")]),
    ],
)
def test_requirements_of_request(request_: ChatCompletionRequest, expected: list[Requirement]) -> None:
    assert requirements(request_) == expected


def test_first_image_is_named_once() -> None:
    needed = requirements(chat([IMAGE, IMAGE, PDF]))

    assert needed == [
        Requirement("vision", "messages[1].content[0]", "image input"),
        Requirement("pdf", "messages[1].content[2]", "PDF input"),
    ]


def test_capable_model_passes() -> None:
    model = entry("a/vision", ["text", "vision", "tools"])

    check_capabilities(chat([IMAGE], tools=[TOOL]), model, directory(model))


def test_missing_capability_names_it_and_suggests_models() -> None:
    plain = entry("b/plain", ["text"])
    seeing = entry("a/seeing", ["text", "vision"])
    same_provider = entry("b/seeing", ["text", "vision"])

    with pytest.raises(EdgeError) as caught:
        check_capabilities(chat([IMAGE]), plain, directory(plain, seeing, same_provider))

    assert caught.value.code == "capability_not_supported"
    assert caught.value.status == 400
    assert caught.value.param == "messages[1].content[0]"
    assert caught.value.message == (
        "The model `b/plain` does not support image input (capability `vision`). "
        "Models that can serve this request: `b/seeing`, `a/seeing`. "
        "`GET /v1/models?capability=vision` lists the models that have it."
    )


def test_suggestions_need_every_capability_of_request() -> None:
    plain = entry("a/plain", ["text"])
    seeing = entry("a/seeing", ["text", "vision"])
    both = entry("a/both", ["text", "vision", "tools"])

    with pytest.raises(EdgeError) as caught:
        check_capabilities(chat([IMAGE], tools=[TOOL]), plain, directory(plain, seeing, both))

    assert "Models that can serve this request: `a/both`." in caught.value.message


def test_no_model_has_every_capability() -> None:
    plain = entry("a/plain", ["text"])

    with pytest.raises(EdgeError) as caught:
        check_capabilities(chat([AUDIO]), plain, directory(plain))

    assert "No model in the catalog has every capability this request needs (`audio_input`)." in caught.value.message


def test_long_suggestion_list_is_cut() -> None:
    plain = entry("a/plain", ["text"])
    seeing = [entry(f"c/seeing-{index}", ["text", "vision"]) for index in range(8)]

    with pytest.raises(EdgeError) as caught:
        check_capabilities(chat([IMAGE]), plain, directory(plain, *seeing))

    assert "`c/seeing-4` and 3 more." in caught.value.message


def test_extra_rule_slots_in() -> None:
    def needs_logit_bias(request: ChatCompletionRequest) -> Requirement | None:
        bias = (request.model_extra or {}).get("logit_bias")
        return Requirement("text", "logit_bias", "logit bias") if bias else None

    silent = entry("a/silent", ["streaming"])

    with pytest.raises(EdgeError) as caught:
        check_capabilities(chat(logit_bias={"1": 2}), silent, directory(silent), rules=[needs_logit_bias])

    assert caught.value.param == "logit_bias"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"thinking": {"enabled": True}}, "thinking"),
        ({"reasoning": {"effort": "low"}}, "reasoning"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"model": "a/plain:thinking"}, "model"),
    ],
)
def test_reasoning_request_needs_reasoning(fields: dict, param: str) -> None:
    plain = entry("a/plain", ["text"])

    with pytest.raises(EdgeError) as caught:
        check_capabilities(chat(**fields), plain, directory(plain))

    assert caught.value.code == "capability_not_supported"
    assert caught.value.param == param


@pytest.mark.parametrize(
    "fields",
    [{"thinking": {"enabled": True, "optional": True}}, {"thinking": {"enabled": False}}, {"reasoning_effort": "none"}],
)
def test_optional_or_disabled_reasoning_needs_nothing(fields: dict) -> None:
    assert requirements(chat(**fields)) == []
