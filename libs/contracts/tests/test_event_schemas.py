"""The committed JSON Schemas and AsyncAPI document, and the compatibility rules between versions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from gateway_contracts.compatibility import breaking_changes
from gateway_contracts.event_schemas import (
    asyncapi_document,
    event_schema,
    incompatible_changes,
    main,
    stale_files,
)
from gateway_contracts.registry import EVENT_TYPES, event_type

SCHEMAS = Path(__file__).parents[1] / "schemas"
USAGE = event_type("usage.recorded", 1)


def test_committed_schemas_match_the_models() -> None:
    assert stale_files(SCHEMAS) == [], "run `make schemas` and commit the result"


def test_models_are_compatible_with_committed_schemas() -> None:
    assert incompatible_changes(SCHEMAS) == []


def test_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "events" / f"{USAGE.key}.json").write_text("{}\n")

    assert main(["--check", str(tmp_path)]) == 1


def test_write_refuses_an_incompatible_change(tmp_path: Path) -> None:
    main([str(tmp_path)])
    stored = tmp_path / "events" / f"{USAGE.key}.json"
    schema = json.loads(stored.read_text())
    schema["properties"]["region"] = {"type": "string"}
    schema["required"].append("region")
    stored.write_text(json.dumps(schema))

    assert main([str(tmp_path)]) == 1
    assert "region" in json.loads(stored.read_text())["properties"]


def test_added_optional_field_is_compatible() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    new["properties"]["region"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    new["$defs"]["RecordedTokens"]["properties"]["video_tokens"] = {"type": "integer", "default": 0}

    assert breaking_changes(old, new) == []


def test_documentation_changes_are_compatible() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    new["properties"]["model"]["description"] = "The model that served the request."

    assert breaking_changes(old, new) == []


def test_removed_field_is_breaking() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    del new["properties"]["ttft_ms"]

    assert breaking_changes(old, new) == ["$.ttft_ms was removed"]


def test_added_required_field_is_breaking() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    new["properties"]["region"] = {"type": "string"}
    new["required"].append("region")

    assert breaking_changes(old, new) == ["$.region was added as a required field"]


def test_required_field_made_optional_is_breaking() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    new["required"].remove("model")

    assert breaking_changes(old, new) == ["$.model changed from required to optional"]


def test_changed_type_is_breaking() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    new["properties"]["http_status"] = {"type": "string"}

    assert breaking_changes(old, new) == ["$.http_status `type` changed from 'integer' to 'string'"]


def test_changed_nested_enum_is_breaking() -> None:
    old = event_schema(USAGE)
    new = copy.deepcopy(old)
    new["properties"]["status"]["enum"] = ["ok", "error"]

    assert breaking_changes(old, new) == [
        "$.status `enum` changed from ['ok', 'error', 'cancelled'] to ['ok', 'error']"
    ]


def test_asyncapi_document_links_every_event() -> None:
    document = asyncapi_document()

    assert document["asyncapi"] == "3.0.0"
    assert len(document["channels"]) == len(EVENT_TYPES)
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        channel_name = operation["channel"]["$ref"].removeprefix("#/channels/")
        channel = document["channels"][channel_name]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"#/channels/{channel_name}/messages/")
        for message in channel["messages"].values():
            component = message["$ref"].removeprefix("#/components/messages/")
            payload = document["components"]["messages"][component]["payload"]["$ref"]
            assert payload.removeprefix("#/components/schemas/") in document["components"]["schemas"]


def test_asyncapi_channels_state_their_stream_limits() -> None:
    channels = asyncapi_document()["channels"]

    usage = channels["usage_recorded_v1"]
    assert usage["address"] == "gateway.events.usage.recorded.v1"
    assert usage["x-jetstream"]["stream"] == "GATEWAY_USAGE"
    assert usage["x-jetstream"]["max_age_seconds"] > 0
    assert usage["x-jetstream"]["max_bytes"] > 0
    turns = channels["session_turn_appended_v1"]
    assert turns["address"] == "gateway.events.session.turn_appended.v1.{session}"
    assert "session" in turns["parameters"]
