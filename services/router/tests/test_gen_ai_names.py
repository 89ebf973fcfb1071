"""Provider names in the spans of upstream calls, as OpenTelemetry's conventions for generative AI spell them."""

from __future__ import annotations

import pytest

from gateway_router.observability import provider_name


@pytest.mark.parametrize(
    ("ours", "convention"),
    [
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("google", "gcp.gemini"),
        ("deepseek", "deepseek"),
        ("groq", "groq"),
        ("mistral", "mistral_ai"),
        ("xai", "x_ai"),
    ],
)
def test_known_providers_use_the_convention_names(ours: str, convention: str) -> None:
    assert provider_name(ours) == convention


def test_other_providers_keep_their_names() -> None:
    assert provider_name("together") == "together"
    assert provider_name("lab") == "lab"
