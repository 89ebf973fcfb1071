"""Token counts: the shipped tokenizer, the estimates, and the upper bound that budgets reserve on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gateway_contracts import DaySpend
from gateway_contracts.budget import budget_day, resets_at, standing
from gateway_contracts.tokens import (
    IMAGE_TOKEN_ALLOWANCE,
    count_images,
    count_prompt,
    count_text,
    encoding_name,
    load_encoding,
    prompt_upper_bound,
)

TEXTS = [
    "Hello world, this is a test.",
    "Grüße aus Köln – 東京の天気は？ 🌧️",
    "def f(x):\n    return {'a': [1, 2, 3]}\n" * 20,
    "    \n\n\t  ",
]


def test_shipped_ranks_build_the_encoding_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the tokenizer tried to download its ranks")

    monkeypatch.setattr("tiktoken.load.read_file", refuse)

    encoding = load_encoding("cl100k_base")

    assert encoding.decode(encoding.encode("tokens, exactly")) == "tokens, exactly"


def test_openai_models_map_to_their_encoding() -> None:
    assert encoding_name("openai", "gpt-4o-mini") == "o200k_base"
    assert encoding_name("openai", "gpt-4.1-mini") == "o200k_base"
    assert encoding_name("openai", "gpt-4-turbo") == "cl100k_base"
    assert encoding_name("deepseek", "deepseek-chat") is None


def test_text_messages_count_exactly_with_framing() -> None:
    encoding = load_encoding("o200k_base")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "ann"}]

    count = count_prompt(messages, None, "o200k_base")

    words = sum(len(encoding.encode(text)) for text in ("system", "Be brief.", "user", "Hi", "ann"))
    assert count.exact is True
    assert count.method == "tokenizer:o200k_base"
    assert count.tokens == words + 3 * 2 + 1 + 3


def test_images_tools_and_other_models_are_estimates() -> None:
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]
    text = [{"role": "user", "content": "Hi"}]

    assert count_prompt(image, None, "o200k_base").exact is False
    assert count_prompt(text, [{"type": "function", "function": {"name": "f"}}], "o200k_base").exact is False
    assert count_prompt(text, None, None).method == "estimate"
    assert count_text("abcdefgh", None).tokens == 2


@pytest.mark.parametrize("text", TEXTS)
def test_upper_bound_is_never_below_the_tokenizer(text: str) -> None:
    messages = [{"role": "user", "content": text}]

    for name in ("o200k_base", "cl100k_base"):
        assert prompt_upper_bound(messages, None) >= count_prompt(messages, None, name).tokens


def test_upper_bound_counts_each_image_once() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}
    messages = [{"role": "user", "content": [part, part]}]

    assert count_images(messages) == 2
    assert prompt_upper_bound(messages, None) < 2 * IMAGE_TOKEN_ALLOWANCE + 100


def test_budget_day_and_reset_follow_the_time_zone() -> None:
    # 2025-03-30 01:30 UTC is 03:30 in Berlin, after the switch to summer time.
    moment = 1743298200.0

    assert budget_day("Europe/Berlin", moment) == date(2025, 3, 30)
    assert budget_day("America/Los_Angeles", moment) == date(2025, 3, 29)
    assert resets_at("Europe/Berlin", date(2025, 3, 30)).isoformat() == "2025-03-30T22:00:00+00:00"


def test_standing_counts_only_unsettled_reservations() -> None:
    current = standing(
        Decimal("1"), DaySpend(spent_usd=Decimal("0.4"), settled_reserved_usd=Decimal("0.6")), Decimal("0.9")
    )

    assert current.in_flight == Decimal("0.3")
    assert current.remaining == Decimal("0.3")
    assert str(standing(Decimal("1"), None, Decimal("0")).in_flight) == "0"
