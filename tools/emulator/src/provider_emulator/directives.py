"""Behaviour switches that a test writes into a message's text.

A line `#emulate key=value ...` in any message of the request changes how the
emulator answers. They travel through the gateway like any other text, so a
test can drive the upstream without a side channel.

Keys:
- `error=<status>`: answer with the provider's error body for that status.
- `error_times=<n>`: fail only the first `n` requests that carry the same messages
  (with `error`, or on Anthropic's stream with `error_after`).
- `error_for=<upstream model>`: fail only requests for that model.
- `error_after=<n>`: stream `n` content chunks, then fail mid-stream.
- `words=<n>`: the reply has `n` words.
- `word_bytes=<n>`: each generated word is `n` bytes long, for large replies in few chunks.
- `delay_ms=<n>`: wait between stream chunks.
- `first_delay_ms=<n>`: wait before the first byte of the reply.
- `cached=<n>`, `cache_write=<n>`, `audio_in=<n>`: prompt tokens of that kind,
  reported in the usage breakdown and added to the prompt tokens.
- `reasoning=<n>`, `audio_out=<n>`: completion tokens of that kind, reported
  in the usage breakdown and added to the completion tokens; `reasoning`
  tokens come on top of those of any reasoning text.
- `thinking_words=<n>`: the reasoning text has `n` words, when the request turns reasoning on.
- `tool=<name>`: call that tool, unless the last message is a tool result.
- `image=1`: the reply carries a generated image.
- `redacted=1`: Anthropic adds a redacted thinking block.
- `split=1`: write every stream event in two pieces, cut inside a multi-byte character where there is one.
- `reply=<text>`, `thinking=<text>`, `tool_args=<json>`: the reply text, the reasoning text,
  the tool call's arguments; each takes the rest of its line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_PREFIX = "#emulate "


@dataclass(frozen=True, slots=True)
class Directives:
    error: int | None = None
    error_times: int | None = None
    error_for: str | None = None
    error_after: int | None = None
    words: int | None = None
    word_bytes: int | None = None
    delay_ms: int = 0
    first_delay_ms: int = 0
    cached: int = 0
    cache_write: int = 0
    audio_in: int = 0
    reasoning: int = 0
    audio_out: int = 0
    thinking_words: int | None = None
    tool: str | None = None
    image: int = 0
    redacted: int = 0
    split: int = 0
    reply: str | None = None
    thinking: str | None = None
    tool_args: str | None = None


_INT_KEYS = (
    "error",
    "error_times",
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
    "thinking_words",
    "image",
    "redacted",
    "split",
)
_WORD_KEYS = ("error_for", "tool")
_REST_OF_LINE_KEYS = ("reply", "thinking", "tool_args")


def parse_directives(texts: Iterable[str]) -> Directives:
    """Collect the directives of every `#emulate` line; later lines win."""
    values: dict[str, int | str] = {}
    for text in texts:
        if _PREFIX not in text:
            continue
        for line in text.splitlines():
            if line.startswith(_PREFIX):
                _read_line(line[len(_PREFIX) :], values)
    return Directives(**values)  # type: ignore[arg-type]  # keys are checked against the dataclass fields above


def _read_line(rest: str, values: dict[str, int | str]) -> None:
    position = 0
    while position < len(rest):
        item = rest[position:].split(maxsplit=1)
        if not item:
            return
        start = rest.index(item[0], position)
        key, _, raw = item[0].partition("=")
        if key in _REST_OF_LINE_KEYS:
            values[key] = rest[start + len(key) + 1 :]
            return
        if key in _INT_KEYS and raw.isdigit():
            values[key] = int(raw)
        elif key in _WORD_KEYS and raw:
            values[key] = raw
        position = start + len(item[0])
