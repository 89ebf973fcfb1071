"""Generate the JSON Schema of every event version and the AsyncAPI document, and check them.

Usage: `python -m gateway_contracts.event_schemas [--check] DIR`

Writes `DIR/events/<schema_name>.v<version>.json` and `DIR/asyncapi.json`.
With `--check` it writes nothing and exits with status 1 when a file is
missing or differs from what the models generate. Either way it exits with
status 1, before writing, when a model changed incompatibly from the schema
in DIR: a new field must be optional, and nothing else may change within
one version.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from gateway_contracts.compatibility import breaking_changes
from gateway_contracts.registry import EVENT_TYPES, EventType

ASYNCAPI_FILE = "asyncapi.json"
EVENTS_DIR = "events"
# The version of the AsyncAPI document, raised with every released schema change.
DOCUMENT_VERSION = "1.0.0"
_COMPONENT_REF = "#/components/schemas/{model}"


def event_schema(event_type: EventType) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12, as pydantic writes it) of one event version."""
    schema = event_type.model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:gateway:event:{event_type.key}"
    schema["x-subject"] = event_type.subject
    return schema


def asyncapi_document() -> dict[str, Any]:
    """Return an AsyncAPI 3.0 document: one channel, message and send operation per event version."""
    models = {event_type.model for event_type in EVENT_TYPES}
    _, definitions = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda model: model.__name__)],
        ref_template=_COMPONENT_REF,
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        name = _component_name(event_type)
        messages[name] = {
            "name": event_type.key,
            "title": f"{event_type.schema_name} version {event_type.schema_version}",
            "summary": event_type.summary,
            "contentType": "application/json",
            "payload": {"$ref": _COMPONENT_REF.format(model=event_type.model.__name__)},
            "x-public": event_type.public,
        }
        channels[name] = _channel(event_type, name)
        operations[f"send_{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"Published by the {event_type.publisher} service.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Generative Gateway events",
            "version": DOCUMENT_VERSION,
            "description": (
                "Events on NATS JetStream. Every public event carries schema_name, schema_version, "
                "event_id, request_id, project_id, occurred_at and trace_id. Messages with x-public false are "
                "the internal events that services send each other."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "`make up`"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions.get("$defs", {})},
    }


def _component_name(event_type: EventType) -> str:
    return f"{event_type.schema_name.replace('.', '_')}_v{event_type.schema_version}"


def _channel(event_type: EventType, name: str) -> dict[str, Any]:
    stream = event_type.stream
    channel: dict[str, Any] = {
        "address": event_type.subject,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "x-jetstream": {
            "stream": stream.name,
            "max_age_seconds": stream.max_age_seconds,
            "max_bytes": stream.max_bytes,
            "duplicate_window_seconds": stream.duplicate_window_seconds,
        },
    }
    if event_type.subject.endswith(".>"):
        # AsyncAPI addresses take parameters, not NATS wildcards.
        channel["address"] = event_type.subject.removesuffix(">") + "{session}"
        channel["parameters"] = {
            "session": {"description": "The first 40 hex digits of the SHA-256 of the project id, NUL, session id."}
        }
    return channel


def generated_files() -> dict[str, str]:
    """Return the generated files by path relative to the output directory."""
    files = {f"{EVENTS_DIR}/{event_type.key}.json": _dump(event_schema(event_type)) for event_type in EVENT_TYPES}
    files[ASYNCAPI_FILE] = _dump(asyncapi_document())
    return files


def incompatible_changes(directory: Path) -> list[str]:
    """List the ways the models break the event schemas stored in `directory`."""
    problems = []
    for event_type in EVENT_TYPES:
        path = directory / EVENTS_DIR / f"{event_type.key}.json"
        if not path.exists():
            continue
        stored = json.loads(path.read_text())
        problems += [f"{event_type.key}: {problem}" for problem in breaking_changes(stored, event_schema(event_type))]
    return problems


def stale_files(directory: Path) -> list[str]:
    """List the generated files that are missing from `directory` or differ from the models."""
    return [
        relative
        for relative, text in generated_files().items()
        if not (directory / relative).exists() or (directory / relative).read_text() != text
    ]


def write(directory: Path) -> list[Path]:
    written = []
    for relative, text in generated_files().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway_contracts.event_schemas", description=__doc__)
    parser.add_argument("directory", type=Path, help="where the schemas live, such as libs/contracts/schemas")
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)

    problems = incompatible_changes(args.directory)
    if problems:
        print("Incompatible event schema changes; publish a new version instead:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.check:
        stale = stale_files(args.directory)
        for relative in stale:
            print(f"{relative} is out of date; run `make schemas`", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
