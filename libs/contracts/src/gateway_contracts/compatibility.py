"""Whether a new JSON Schema of an event version can still be read by subscribers of the old one.

Within one version the only compatible change is a new optional field, at
any depth: readers ignore fields they do not know. Removing or renaming a
field, making it required or optional, or changing its type, format, enum
or constraints needs a new version. Titles, descriptions and defaults are
documentation and may change.
"""

from __future__ import annotations

from typing import Any

_DOCUMENTATION = frozenset({"title", "description", "default", "examples", "$id", "x-subject"})


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """List the changes from `old` to `new` that a reader of `old` would not accept; empty when compatible."""
    return _compare(_inline(old, old.get("$defs", {})), _inline(new, new.get("$defs", {})), "$")


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """Replace each local `$ref` by the definition it names; pydantic's event schemas have no cycles."""
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        return _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
    return {key: _inline(value, definitions) for key, value in schema.items() if key != "$defs"}


def _compare(old: Any, new: Any, path: str) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [f"{path} changed from {old!r} to {new!r}"]
    if "properties" not in old:
        return _compare_leaf(old, new, path)

    problems = []
    old_properties, new_properties = old["properties"], new.get("properties", {})
    old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
    for name, schema in old_properties.items():
        if name not in new_properties:
            problems.append(f"{path}.{name} was removed")
            continue
        problems += _compare(schema, new_properties[name], f"{path}.{name}")
        if (name in old_required) != (name in new_required):
            problems.append(f"{path}.{name} changed from {_kind(name, old_required)} to {_kind(name, new_required)}")
    for name in new_properties.keys() - old_properties.keys():
        if name in new_required:
            problems.append(f"{path}.{name} was added as a required field")
    rest_old = {key: value for key, value in old.items() if key not in {"properties", "required", *_DOCUMENTATION}}
    rest_new = {key: value for key, value in new.items() if key not in {"properties", "required", *_DOCUMENTATION}}
    return problems + _compare_leaf(rest_old, rest_new, path)


def _compare_leaf(old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
    problems = []
    for key in sorted((old.keys() | new.keys()) - _DOCUMENTATION):
        if key in ("anyOf", "oneOf", "allOf", "items", "additionalProperties"):
            problems += _compare_nested(old.get(key), new.get(key), f"{path}<{key}>")
        elif old.get(key) != new.get(key):
            problems.append(f"{path} `{key}` changed from {old.get(key)!r} to {new.get(key)!r}")
    return problems


def _compare_nested(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = enumerate(zip(old, new, strict=True))
        return [problem for index, (before, after) in pairs for problem in _compare(before, after, f"{path}[{index}]")]
    return _compare(old, new, path)


def _kind(name: str, required: set[str]) -> str:
    return "required" if name in required else "optional"
