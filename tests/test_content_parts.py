"""Images, PDFs and audio in each provider's blocks; image outputs; URLs the gateway must not fetch."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import RunningStack
from tests.providers import extra, received, received_all, unique

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA="


def parts(marker: str) -> list[dict]:
    return [
        {"type": "text", "text": f"Describe these {marker}"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "report.pdf"}},
    ]


def test_anthropic_gets_image_and_document_blocks(stack: RunningStack) -> None:
    marker = unique("anthropic-parts")
    content = [*parts(marker), {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]

    stack.client().chat.completions.create(
        model="anthropic/claude-sonnet-4", messages=[{"role": "user", "content": content}]
    )

    assert received(stack, marker)["body"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"Describe these {marker}"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                    "title": "report.pdf",
                },
                # Anthropic fetches https images itself.
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            ],
        }
    ]


def test_gemini_gets_inline_data_and_counts_audio(stack: RunningStack) -> None:
    marker = unique("gemini-parts")
    content = [*parts(marker), {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}}]

    completion = stack.client().chat.completions.create(
        model="google/gemini-2.5-flash", messages=[{"role": "user", "content": content}]
    )

    assert received(stack, marker)["body"]["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": f"Describe these {marker}"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
                {"inlineData": {"mimeType": "audio/wav", "data": WAV}},
            ],
        }
    ]
    # The emulator counts 25 tokens per audio clip.
    assert completion.usage.prompt_tokens_details.audio_tokens == 25


def test_openai_gets_parts_unchanged(stack: RunningStack) -> None:
    marker = unique("openai-parts")

    stack.client().chat.completions.create(
        model="openai/o4-mini", messages=[{"role": "user", "content": parts(marker)}]
    )

    assert received(stack, marker)["body"]["messages"] == [{"role": "user", "content": parts(marker)}]


@pytest.mark.parametrize(
    ("model", "part", "code", "param"),
    [
        # The model's catalog entry lacks the capability, so the edge rejects the part.
        (
            "anthropic/claude-sonnet-4",
            {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
            "capability_not_supported",
            "messages[0].content[1]",
        ),
        (
            "deepseek/deepseek-r1",
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            "capability_not_supported",
            "messages[0].content[1]",
        ),
        # The model reads PDFs, but the router cannot resolve an OpenAI file id for Anthropic.
        (
            "anthropic/claude-sonnet-4",
            {"type": "file", "file": {"file_id": "file-abc"}},
            "unsupported_parameter",
            "messages[0].content[1].file.file_id",
        ),
    ],
)
def test_part_the_model_cannot_take_is_400(stack: RunningStack, model: str, part: dict, code: str, param: str) -> None:
    marker = unique("unsupported-part")

    with pytest.raises(openai.BadRequestError) as caught:
        stack.client().chat.completions.create(
            model=model, messages=[{"role": "user", "content": [{"type": "text", "text": marker}, part]}]
        )

    assert caught.value.code == code
    assert caught.value.body["param"] == param
    assert received_all(stack, marker) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/cat.png",
        "https://localhost/cat.png",
        "https://[::1]/cat.png",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/cat.png",
        "https://[::ffff:192.168.1.1]/cat.png",
        "http://example.com/cat.png",
    ],
)
def test_internal_or_plain_http_image_url_is_400(stack: RunningStack, url: str) -> None:
    """Gemini needs image bytes, so the router would fetch the URL; it refuses these before connecting."""
    marker = unique("ssrf")
    content = [{"type": "text", "text": marker}, {"type": "image_url", "image_url": {"url": url}}]

    with pytest.raises(openai.BadRequestError) as caught:
        stack.client().chat.completions.create(
            model="google/gemini-2.5-flash", messages=[{"role": "user", "content": content}]
        )

    assert caught.value.code == "invalid_request"
    assert caught.value.body["param"] == "messages[0].content[1].image_url.url"
    # The edge rejects a plain http URL for every model; the router rejects internal hosts before connecting.
    reason = "must start with `https://`" if url.startswith("http:") else "private, loopback or link-local"
    assert reason in caught.value.message
    assert received_all(stack, marker) == []


def test_gemini_image_output_in_reply_and_stream(stack: RunningStack) -> None:
    model = "google/gemini-2.5-flash-image"
    content = f"Draw a cat {unique('image')}\n#emulate image=1 reply=Here is your cat"
    client = stack.client()

    completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    chunks = list(
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], stream=True)
    )

    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert completion.choices[0].message.content == "Here is your cat"
    assert extra(completion.choices[0].message, "images") == [image]
    order = []
    for chunk in chunks:
        delta = chunk.choices[0].delta
        if delta.content:
            order.append(delta.content)
        if extra(delta, "images"):
            order.append(extra(delta, "images"))
    # The image arrives where the model produced it, between pieces of text.
    assert order == ["Here", [image], " is", " your", " cat"]


def test_openrouter_images_pass_through(stack: RunningStack) -> None:
    content = f"Draw {unique('router-image')}\n#emulate image=1"

    completion = stack.client().chat.completions.create(
        model="openrouter/anthropic/claude-sonnet-4", messages=[{"role": "user", "content": content}]
    )

    assert extra(completion.choices[0].message, "images") == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    ]
