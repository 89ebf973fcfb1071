"""The providers the router can reach, and how each one is reached right now.

A provider is live when its credentials are in the environment. Without them
it is emulated in the local run (when `GATEWAY_EMULATOR_URL` is set) and
unconfigured everywhere else, where a request for it fails with 503 naming
the missing variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from gateway_contracts import CatalogEntry, ProviderStatus
from gateway_contracts.records import ProviderMode

EMULATOR_API_KEY = "emulator"


# Reasoning dialect of an OpenAI-compatible server, as `adapters.dialects` describes.
Dialect = Literal["openai", "deepseek", "openrouter", "xai", "qwen", "ollama", "vllm"]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    # Which adapter speaks this provider's wire format.
    adapter: str
    default_base_url: str | None
    # Environment variable with the API key; None for servers that take no key.
    key_env: str | None
    base_url_env: str
    # Whether the provider accepts `stream_options.include_usage`, which the
    # router needs to count a stream's tokens.
    stream_usage: bool = True
    dialect: Dialect = "openai"
    # Appended to the emulator's `/<name>` prefix to make the emulated base
    # URL. Native adapters add their own version segment, as the providers'
    # SDKs do with their base URL variables.
    emulator_path: str = "/v1"
    # A server in the operator's own network. It would fetch an image URL
    # from inside that network, so the router fetches it instead, with its
    # checks, and sends the bytes.
    self_hosted: bool = False
    # What an operator checks when the upstream rejects the credentials, where
    # that is not a variable of the router's environment.
    credential_hint: str | None = None

    @property
    def credential_env(self) -> str:
        """The variable whose absence keeps this provider from being live."""
        return self.key_env or self.base_url_env

    @property
    def credential_advice(self) -> str:
        """What an operator checks after a 401 or 403 from the upstream, for an error message."""
        return self.credential_hint or f"`{self.credential_env}`"


# Key and base URL variables are the ones each provider's own SDK reads
# (`anthropic`: ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL; `google-genai`:
# GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL; Alibaba Cloud Model Studio's
# examples: DASHSCOPE_API_KEY).
PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ProviderSpec(
        "anthropic",
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        emulator_path="",
    ),
    ProviderSpec(
        "google",
        "gemini",
        "https://generativelanguage.googleapis.com",
        "GEMINI_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        emulator_path="",
    ),
    ProviderSpec(
        "deepseek", "deepseek", "https://api.deepseek.com", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", dialect="deepseek"
    ),
    ProviderSpec("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_BASE_URL"),
    ProviderSpec("together", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "TOGETHER_BASE_URL"),
    ProviderSpec("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "MISTRAL_BASE_URL"),
    ProviderSpec("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_BASE_URL", dialect="xai"),
    ProviderSpec(
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        "OPENROUTER_BASE_URL",
        dialect="openrouter",
    ),
    ProviderSpec(
        "qwen",
        "openai",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_BASE_URL",
        dialect="qwen",
    ),
    # Self-hosted servers have no public address: they are live once their URL is set.
    ProviderSpec("vllm", "openai", None, None, "VLLM_BASE_URL", dialect="vllm", self_hosted=True),
    ProviderSpec("ollama", "openai", None, None, "OLLAMA_BASE_URL", dialect="ollama", self_hosted=True),
)


@dataclass(frozen=True, slots=True)
class ProviderRoute:
    """Where and how to send one provider's requests."""

    spec: ProviderSpec
    mode: ProviderMode
    base_url: str | None
    api_key: str | None

    @property
    def emulated(self) -> bool:
        return self.mode == "emulated"


def resolve_routes(environ: Mapping[str, str], emulator_url: str | None) -> dict[str, ProviderRoute]:
    """Decide, once at start, how each provider in `PROVIDERS` is reached."""
    return {spec.name: _resolve(spec, environ, emulator_url) for spec in PROVIDERS}


def _resolve(spec: ProviderSpec, environ: Mapping[str, str], emulator_url: str | None) -> ProviderRoute:
    api_key = environ.get(spec.key_env) if spec.key_env else None
    base_url = environ.get(spec.base_url_env) or spec.default_base_url
    configured = bool(api_key) if spec.key_env else bool(environ.get(spec.base_url_env))
    if configured:
        return ProviderRoute(spec, "live", base_url.rstrip("/") if base_url else None, api_key)
    if emulator_url:
        return ProviderRoute(
            spec, "emulated", f"{emulator_url.rstrip('/')}/{spec.name}{spec.emulator_path}", EMULATOR_API_KEY
        )
    return ProviderRoute(spec, "unconfigured", None, None)


def custom_route(entry: CatalogEntry, environ: Mapping[str, str]) -> ProviderRoute:
    """Reach a custom model at its own base URL with the OpenAI-compatible adapter.

    The route is live whatever the provider's own status: the catalog entry
    names the server. A key variable that is named but unset leaves the
    route unconfigured, so that the request fails with a message naming it.
    """
    assert entry.base_url is not None
    spec = ProviderSpec(
        name=entry.provider,
        adapter="openai",
        default_base_url=entry.base_url,
        key_env=entry.api_key_env,
        # Only shown in messages: a custom model's URL comes from its catalog entry.
        base_url_env=f"the base URL of {entry.id}",
        self_hosted=True,
        credential_hint=None
        if entry.api_key_env
        else f"whether the server of the custom model `{entry.id}` wants an API key; if so, set `api_key_env` "
        "in its catalog entry and that variable in the router's environment",
    )
    if entry.api_key_env is None:
        return ProviderRoute(spec, "live", entry.base_url, None)
    api_key = environ.get(entry.api_key_env)
    if not api_key:
        return ProviderRoute(spec, "unconfigured", None, None)
    return ProviderRoute(spec, "live", entry.base_url, api_key)


def status_records(routes: Mapping[str, ProviderRoute]) -> list[ProviderStatus]:
    updated_at = datetime.now(UTC)
    return [
        ProviderStatus(
            provider=name,
            mode=route.mode,
            credential_env=None if route.mode == "live" else route.spec.credential_env,
            updated_at=updated_at,
        )
        for name, route in routes.items()
    ]
