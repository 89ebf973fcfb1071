"""The emulator's aiohttp application: one route per emulated wire format."""

from __future__ import annotations

from aiohttp import web

from provider_emulator.anthropic import Messages
from provider_emulator.failures import FailurePlan
from provider_emulator.gemini import GenerateContent
from provider_emulator.openai import ChatCompletions
from provider_emulator.recorder import Recorder

RECORDER_KEY = web.AppKey("recorder", Recorder)

# OpenAI-compatible providers that the emulator stands in for, each under its own prefix.
OPENAI_COMPATIBLE_PREFIXES = (
    "openai",
    "deepseek",
    "groq",
    "together",
    "mistral",
    "xai",
    "openrouter",
    "qwen",
    "vllm",
    "ollama",
)


def create_app(record_limit: int = 1000) -> web.Application:
    # Tests send bodies with images and PDFs of tens of MB.
    app = web.Application(client_max_size=256 * 1024 * 1024)
    recorder = Recorder(record_limit)
    app[RECORDER_KEY] = recorder

    failures = FailurePlan()
    chat = ChatCompletions(recorder, failures)
    for prefix in OPENAI_COMPATIBLE_PREFIXES:
        app.router.add_post(f"/{prefix}/v1/chat/completions", chat.handle)
    app.router.add_post("/anthropic/v1/messages", Messages(recorder, failures).handle)
    app.router.add_post("/google/v1beta/models/{target}", GenerateContent(recorder, failures).handle)

    app.router.add_get("/_emulator/requests", _list_requests)
    app.router.add_get("/_emulator/disconnects", _list_disconnects)
    app.router.add_delete("/_emulator/requests", _clear)
    app.router.add_get("/healthz", _health)
    return app


async def _list_requests(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[RECORDER_KEY].requests))


async def _list_disconnects(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[RECORDER_KEY].disconnects))


async def _clear(request: web.Request) -> web.Response:
    request.app[RECORDER_KEY].clear()
    return web.Response(status=204)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
