"""The public chat completion request, as OpenAI's Chat Completions API defines it.

The models check what the gateway relies on and keep every other field
(`extra="allow"`), so that provider-specific parameters reach the adapters.
Fields that only the gateway understands are listed in `GATEWAY_FIELDS` and
are never forwarded upstream.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StrictBool,
    StrictStr,
    StringConstraints,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from gateway_contracts._internal.inline_data import check_base64, check_data_url
from gateway_contracts._internal.locations import format_location

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]

# A model id or an alias, as a client names a model.
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]

# Identifiers that a client chooses and that end up in subjects, keys and logs.
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]

# Numbers and booleans are strict, as OpenAI's are: the edge forwards the body
# as the client sent it, so a "10" that validation coerced would still reach
# the provider as a string. A JSON integer is a valid float, a float is not a
# valid integer, and NaN and the infinities are rejected.
Integer = Annotated[int, Strict()]
PositiveInteger = Annotated[int, Strict(), Field(ge=1)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]

# `dry_run` asks for the cost without calling the model, `models` lists
# fallback models, tried in order when the first one fails, and the others
# address a server-side session.
GATEWAY_FIELDS: frozenset[str] = frozenset({"session_id", "parent_turn_id", "session_truncation", "dry_run", "models"})

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]

# Fallback models a request may list, besides its `model`.
MAX_FALLBACK_MODELS = 5


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Part):
    type: Literal["text"]
    text: str


class ImageUrl(_Part):
    url: Annotated[str, StringConstraints(min_length=1)]
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _https_or_data(cls, url: str) -> str:
        # Other schemes (http, file, ftp) would have the gateway or a provider
        # fetch from places that a client must not be able to name.
        if url.startswith("data:"):
            check_data_url(url, "image/", "an image `data:` URL")
        elif not url.startswith("https://"):
            raise ValueError("an image URL must start with `https://` or be a `data:` URL")
        return url


class ImagePart(_Part):
    type: Literal["image_url"]
    image_url: ImageUrl


# The audio encodings that some provider takes as input: OpenAI takes wav and
# mp3, Gemini also aiff, aac, ogg and flac.
AudioFormat = Literal["wav", "mp3", "aiff", "aac", "ogg", "flac"]


class InputAudio(_Part):
    data: StrictStr
    format: AudioFormat

    @field_validator("data")
    @classmethod
    def _base64(cls, data: str) -> str:
        check_base64(data, "the audio data")
        return data


class AudioPart(_Part):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileData(_Part):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None

    @model_validator(mode="after")
    def _require_source(self) -> FileData:
        if self.file_data is None and self.file_id is None:
            raise ValueError("a file part needs `file_data` or `file_id`")
        return self

    @field_validator("file_data")
    @classmethod
    def _base64(cls, file_data: str | None) -> str | None:
        if file_data is None:
            return None
        if file_data.startswith("data:"):
            check_data_url(file_data, "", "the file's `data:` URL")
        else:
            check_base64(file_data, "the file data")
        return file_data


class FilePart(_Part):
    type: Literal["file"]
    file: FileData


class RefusalPart(_Part):
    type: Literal["refusal"]
    refusal: str


def _part_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"part:{kind}" if isinstance(kind, str) else None


# Union tags contain a colon so that error locations can leave them out: no
# field name has one.
ContentPart = Annotated[
    Annotated[TextPart, Tag("part:text")]
    | Annotated[ImagePart, Tag("part:image_url")]
    | Annotated[AudioPart, Tag("part:input_audio")]
    | Annotated[FilePart, Tag("part:file")]
    | Annotated[RefusalPart, Tag("part:refusal")],
    Discriminator(
        _part_tag,
        custom_error_type="invalid_content_part",
        custom_error_message="Unknown content part type; expected one of "
        "`text`, `image_url`, `input_audio`, `file`, `refusal`",
    ),
]


def _content_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "content:str"
    if isinstance(value, list):
        return "content:parts"
    return None


MessageContent = Annotated[
    Annotated[str, Tag("content:str")] | Annotated[list[ContentPart], Tag("content:parts")],
    Discriminator(
        _content_tag,
        custom_error_type="invalid_content",
        custom_error_message="Input should be a string or a list of content parts",
    ),
]


class FunctionCall(_Part):
    name: Annotated[str, StringConstraints(min_length=1)]
    arguments: StrictStr


class ToolCall(_Part):
    id: Annotated[str, StringConstraints(min_length=1)]
    type: Literal["function"] = "function"
    function: FunctionCall


class ThinkingBlock(_Part):
    """Anthropic's reasoning of an earlier assistant turn, returned unchanged so its signature checks."""

    type: Literal["thinking"]
    thinking: StrictStr
    signature: StrictStr


class RedactedThinkingBlock(_Part):
    type: Literal["redacted_thinking"]
    data: StrictStr


def _block_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"block:{kind}" if isinstance(kind, str) else None


ThinkingBlocks = list[
    Annotated[
        Annotated[ThinkingBlock, Tag("block:thinking")]
        | Annotated[RedactedThinkingBlock, Tag("block:redacted_thinking")],
        Discriminator(
            _block_tag,
            custom_error_type="invalid_thinking_block",
            custom_error_message="Input should be an object whose `type` is `thinking` or `redacted_thinking`",
        ),
    ]
]

# A function name as OpenAI's API documents it: letters, digits, underscores
# and dashes, at most 64 characters.
FunctionName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


class FunctionDefinition(_Part):
    name: FunctionName
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class FunctionTool(_Part):
    type: Literal["function"]
    function: FunctionDefinition


class CustomToolFormat(_Part):
    # "text" (free text) or "grammar" (a Lark or regex grammar), as OpenAI defines them.
    type: Literal["text", "grammar"]


class CustomDefinition(_Part):
    name: FunctionName
    description: StrictStr | None = None
    format: CustomToolFormat | None = None


class CustomTool(_Part):
    """An OpenAI custom tool, whose input is free text instead of JSON arguments."""

    type: Literal["custom"]
    custom: CustomDefinition


def _tool_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"tool:{kind}" if isinstance(kind, str) else None


Tool = Annotated[
    Annotated[FunctionTool, Tag("tool:function")] | Annotated[CustomTool, Tag("tool:custom")],
    Discriminator(
        _tool_tag,
        custom_error_type="invalid_tool",
        custom_error_message='Input should be a tool whose `type` is "function" or "custom"',
    ),
]


# The dict-valued fields below stay dicts after validation, so that code
# reading them works on the client's JSON as the providers get it.
class NamedFunction(TypedDict):
    name: FunctionName


class NamedToolChoice(TypedDict):
    type: Literal["function"]
    function: NamedFunction


class NamedCustomToolChoice(TypedDict):
    type: Literal["custom"]
    custom: NamedFunction


class AllowedTools(TypedDict):
    mode: Literal["auto", "required"]
    tools: Annotated[list[dict[str, Any]], Field(min_length=1)]


class AllowedToolsChoice(TypedDict):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


def _choice_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "choice:mode"
    if isinstance(value, dict):
        kind = value.get("type")
        return f"choice:{kind}" if kind in ("function", "custom", "allowed_tools") else "choice:function"
    return None


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag("choice:mode")]
    | Annotated[NamedToolChoice, Tag("choice:function")]
    | Annotated[NamedCustomToolChoice, Tag("choice:custom")]
    | Annotated[AllowedToolsChoice, Tag("choice:allowed_tools")],
    Discriminator(
        _choice_tag,
        custom_error_type="invalid_tool_choice",
        custom_error_message='Input should be "none", "auto", "required", a named function or custom tool, '
        "or an allowed_tools object",
    ),
]


class JsonSchemaFormat(TypedDict):
    name: FunctionName
    schema: NotRequired[dict[str, Any]]
    strict: NotRequired[StrictBool]
    description: NotRequired[StrictStr]


class ResponseFormat(TypedDict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: NotRequired[JsonSchemaFormat]


class ChatMessage(BaseModel):
    """One message of the conversation, in any of OpenAI's roles."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: MessageContent | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    thinking_blocks: ThinkingBlocks | None = None

    @model_validator(mode="after")
    def _check_role_fields(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a `tool` message needs `tool_call_id`")
        if self.role == "assistant":
            if self.content is None and not self.tool_calls and "function_call" not in (self.model_extra or {}):
                raise ValueError("an `assistant` message needs `content` or `tool_calls`")
        elif self.content is None:
            raise ValueError(f"a `{self.role}` message needs `content`")
        return self


class ThinkingOptions(BaseModel):
    """The gateway's reasoning request, for any model: a budget in tokens or an effort, or off."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = True
    budget_tokens: PositiveInteger | None = None
    effort: ReasoningEffort | None = None
    # Reply without reasoning on a model that cannot reason, instead of a 400.
    optional: StrictBool = False

    @model_validator(mode="after")
    def _check_combination(self) -> ThinkingOptions:
        if self.budget_tokens is not None and self.effort is not None:
            raise ValueError("set `budget_tokens` or `effort`, not both")
        if not self.enabled and (self.budget_tokens is not None or self.effort not in (None, "none")):
            raise ValueError("`budget_tokens` and `effort` need `enabled: true`")
        return self


class ReasoningOptions(BaseModel):
    """OpenRouter's `reasoning` object, accepted as another spelling of `thinking`."""

    model_config = ConfigDict(extra="allow")

    enabled: StrictBool | None = None
    effort: ReasoningEffort | None = None
    max_tokens: PositiveInteger | None = None

    @model_validator(mode="after")
    def _check_combination(self) -> ReasoningOptions:
        if self.max_tokens is not None and self.effort is not None:
            raise ValueError("set `max_tokens` or `effort`, not both")
        return self


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """A `POST /v1/chat/completions` body."""

    model_config = ConfigDict(extra="allow")

    model: ModelName
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    # Strict: "yes" or 1 for a boolean is a client bug, and gets a 400 rather than a guess.
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: PositiveInteger | None = None
    max_completion_tokens: PositiveInteger | None = None
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    n: Annotated[PositiveInteger, Field(le=128)] | None = None
    stop: StrictStr | Annotated[list[StrictStr], Field(max_length=4)] | None = None
    presence_penalty: Annotated[Number, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[Number, Field(ge=-2, le=2)] | None = None
    seed: Integer | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[Integer, Field(ge=0, le=20)] | None = None
    parallel_tool_calls: StrictBool | None = None
    user: StrictStr | None = None
    tools: Annotated[list[Tool], Field(min_length=1)] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    thinking: ThinkingOptions | None = None
    reasoning: ReasoningOptions | None = None
    reasoning_effort: ReasoningEffort | None = None
    models: Annotated[list[ModelName], Field(max_length=MAX_FALLBACK_MODELS)] | None = None
    session_id: ClientId | None = None
    # Continue the session from this turn instead of its newest one.
    parent_turn_id: uuid.UUID | None = None
    # What to do when the session's history does not fit the model's context
    # window: reject the request (the default) or drop the oldest turns.
    session_truncation: Literal["oldest"] | None = None
    # Return the token count, cost range and budget verdict without calling the model.
    dry_run: StrictBool = False

    @field_validator("stream", mode="before")
    @classmethod
    def _reject_null_stream(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("tools")
    @classmethod
    def _unique_tool_names(cls, tools: list[Tool] | None) -> list[Tool] | None:
        names = [_tool_name(tool) for tool in tools or ()]
        repeated = next((name for name in names if names.count(name) > 1), None)
        if repeated is not None:
            raise ValueError(f"the tool name `{repeated}` appears more than once; give each tool its own name")
        return tools

    @field_validator("tool_choice")
    @classmethod
    def _choice_names_a_tool(cls, choice: Any, info: ValidationInfo) -> Any:
        # `tools` is declared first, so it is validated by now; absent when it was invalid.
        tools = info.data.get("tools")
        names = {_tool_name(tool) for tool in tools or ()}
        if choice == "required" and not names:
            raise ValueError('"required" needs at least one tool in `tools`')
        if not isinstance(choice, dict) or choice.get("type") not in ("function", "custom"):
            return choice
        name = choice[choice["type"]]["name"]
        if name not in names:
            raise ValueError(f"it names the tool `{name}`, which is not in `tools`")
        return choice

    @field_validator("response_format")
    @classmethod
    def _require_schema(cls, response_format: ResponseFormat | None) -> ResponseFormat | None:
        if response_format is not None and response_format["type"] == "json_schema":
            if "json_schema" not in response_format:
                raise ValueError("a `json_schema` response format needs a `json_schema` object")
        return response_format

    @model_validator(mode="after")
    def _check_stream_options(self) -> ChatCompletionRequest:
        if self.stream_options is not None and not self.stream:
            raise ValueError("`stream_options` is only allowed when `stream` is true")
        return self

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


def _tool_name(tool: FunctionTool | CustomTool) -> str:
    return tool.function.name if isinstance(tool, FunctionTool) else tool.custom.name


# The JSON value that each of pydantic's strict type errors expects.
_JSON_TYPES = {"int_type": "an integer", "float_type": "a number", "bool_type": "`true` or `false`"}


class RequestProblem(Exception):
    """A request body that does not match `ChatCompletionRequest`.

    `param` names the offending field in OpenAI's notation (`messages[0].role`),
    or is None when the problem is the body as a whole.
    """

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def describe_validation_error(error: ValidationError) -> RequestProblem:
    """Turn pydantic's first error into one message that names the field.

    A plain union reports one error per member at the same field; the member
    whose type matched the input explains the problem better than the others'
    type mismatches, so it wins.
    """
    errors = error.errors(include_url=False)
    param = format_location(errors[0]["loc"])
    same_field = [item for item in errors if format_location(item["loc"]) == param]
    first = next((item for item in same_field if not item["type"].endswith("_type")), same_field[0])
    if first["type"] == "missing":
        return RequestProblem(f"Missing required field `{param}`.", param)

    reason = first["msg"].removeprefix("Value error, ")
    expected = _JSON_TYPES.get(first["type"])
    if expected is not None and isinstance(first.get("input"), str):
        reason += f", not a string; send {expected} without quotes"
    if param is None:
        return RequestProblem(f"Invalid request body: {reason}.", None)
    return RequestProblem(f"Invalid value for `{param}`: {reason}.", param)
