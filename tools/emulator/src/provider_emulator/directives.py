"""Behaviour switches that a test writes into a message's text.

A line `#emulate key=value ...` in any message of the request changes how the
emulator answers. They travel through the gateway like any other text, so a
test can drive the upstream without a side channel.

Keys:
- `error=<status>`: answer with the provider's error body for that status.
- `error_after=<n>`: stream `n` content chunks, then fail mid-stream.
- `words=<n>`: the reply has `n` words.
- `word_bytes=<n>`: each generated word is `n` bytes long, for large replies in few chunks.
- `delay_ms=<n>`: wait between stream chunks.
- `first_delay_ms=<n>`: wait before the first byte of the reply.
- `reply=<text>`: the reply text, up to the end of the line.
- `cached=<n>`, `cache_write=<n>`, `audio_in=<n>`: prompt tokens of that kind,
  reported in `prompt_tokens_details` and added to `prompt_tokens`.
- `reasoning=<n>`, `audio_out=<n>`: completion tokens of that kind, reported
  in `completion_tokens_details` and added to `completion_tokens`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_PREFIX = "#emulate "


@dataclass(frozen=True, slots=True)
class Directives:
    error: int | None = None
    error_after: int | None = None
    words: int | None = None
    word_bytes: int | None = None
    delay_ms: int = 0
    first_delay_ms: int = 0
    reply: str | None = None
    cached: int = 0
    cache_write: int = 0
    audio_in: int = 0
    reasoning: int = 0
    audio_out: int = 0


_INT_KEYS = (
    "error",
    "error_after",
    "words",
    "word_bytes",
    "delay_ms",
    "first_delay_ms",
    "cached",
    "cache_write",
    "audio_in",
    "reasoning",
    "audio_out",
)


def parse_directives(texts: Iterable[str]) -> Directives:
    """Collect the directives of every `#emulate` line; later lines win."""
    values: dict[str, int | str] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.startswith(_PREFIX):
                continue
            rest = line[len(_PREFIX) :]
            if rest.startswith("reply="):
                values["reply"] = rest[len("reply=") :]
                continue
            for item in rest.split():
                key, _, raw = item.partition("=")
                if key in _INT_KEYS and raw.isdigit():
                    values[key] = int(raw)
    return Directives(**values)  # type: ignore[arg-type]  # keys are checked against the dataclass fields above
