"""Rendering of pydantic error locations in OpenAI's parameter notation."""

from __future__ import annotations

from collections.abc import Sequence

# Location segments that pydantic adds for union members name a type, not a
# field: plain unions add the member's type (`str`, `list[...]`) and our tagged
# unions add a tag, which by convention contains a colon.
_TYPE_SEGMENT_MARKERS = ("[", ":", "function-after", "function-before")
_TYPE_SEGMENTS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def format_location(loc: Sequence[int | str]) -> str | None:
    """Render `('messages', 0, 'content')` as `messages[0].content`.

    Returns None for an empty location, which pydantic uses for errors of
    the whole object.
    """
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
            continue
        if segment in _TYPE_SEGMENTS or any(marker in segment for marker in _TYPE_SEGMENT_MARKERS):
            continue
        text = f"{text}.{segment}" if text else segment
    return text or None
