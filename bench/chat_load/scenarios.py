"""The loads every target receives, and the request bodies they send."""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson

# The emulator replies to a plain "Hello" with a 5-word completion of about 600 bytes.
NON_STREAMING_PROMPT = "Hello"
# A streamed reply of 20 words: a role chunk, 20 content chunks, a finish
# chunk and a usage chunk. The directive travels to the emulator unchanged
# through every gateway.
STREAMING_PROMPT = "#emulate words=20\nCount to twenty."


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    stream: bool
    concurrency: int
    requests: int
    # Requests per second for an open loop; None for a closed loop.
    rate: float | None = None
    # Seconds after which no new request starts.
    time_limit: float = 120.0

    @property
    def open_loop(self) -> bool:
        return self.rate is not None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("c1", "non-streaming, concurrency 1", stream=False, concurrency=1, requests=2000, time_limit=60),
    Scenario("c10", "non-streaming, concurrency 10", stream=False, concurrency=10, requests=5000, time_limit=90),
    Scenario("c50", "non-streaming, concurrency 50", stream=False, concurrency=50, requests=10000, time_limit=120),
    Scenario("stream-c1", "streaming, concurrency 1", stream=True, concurrency=1, requests=500, time_limit=60),
    Scenario("stream-c10", "streaming, concurrency 10", stream=True, concurrency=10, requests=2000, time_limit=90),
    # 9,000 requests due at a fixed 300 per second: 30 seconds. Up to 256
    # connections may be open, so a slow target builds a queue rather than
    # slowing the schedule down.
    Scenario(
        "open-300",
        "open loop, 300 requests/s for 30 s",
        stream=False,
        concurrency=256,
        requests=9000,
        rate=300,
        time_limit=30,
    ),
)

WARM_UP: tuple[Scenario, ...] = (
    Scenario("warm-up", "warm-up, non-streaming", stream=False, concurrency=10, requests=300, time_limit=30),
    Scenario("warm-up-stream", "warm-up, streaming", stream=True, concurrency=10, requests=100, time_limit=30),
)


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """Return the scenario with `factor` times the requests; an open loop keeps its rate and runs shorter."""
    requests = max(1, round(scenario.requests * factor))
    if scenario.rate is None:
        return replace(scenario, requests=requests)
    return replace(scenario, requests=requests, time_limit=min(scenario.time_limit, requests / scenario.rate))


def request_body(model: str, stream: bool) -> str:
    if stream:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": STREAMING_PROMPT}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    else:
        body = {"model": model, "messages": [{"role": "user", "content": NON_STREAMING_PROMPT}]}
    return orjson.dumps(body).decode()
