"""`gateway up`: the whole system in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from gateway_cli.console import ConsoleConfig, ConsoleUnavailable, LocalConsole
from gateway_cli.stack import NATS_URL_FILE, Credentials, LocalStack, StackConfig, StackError

logger = logging.getLogger("gateway_cli.up")
T = TypeVar("T")


def run_up() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = StackConfig.from_environment()
    except StackError as error:
        print(f"gateway up: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_up(config))
    except StackError as error:
        print(f"gateway up: {error}", file=sys.stderr)
        return 1


async def _up(config: StackConfig) -> int:
    stack = LocalStack(config, console=sys.stderr)
    # A busy port fails in one line, before the console's build prints anything.
    stack.preflight()
    web = _web_console(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The console builds while the stack starts; both take a while on a first run.
    building = asyncio.ensure_future(web.prepare()) if web is not None else None
    try:
        credentials = await _until_stopped(stack.start(), stop)
        console_url = await _until_stopped(_serve_console(web, building), stop) if web and building else None
    except BaseException:
        if building is not None:
            building.cancel()
            await asyncio.gather(building, return_exceptions=True)
        raise
    if stop.is_set():
        await _stop_all(stack, web)
        return 130
    _print_banner(config, credentials, console_url)

    exited = asyncio.ensure_future(stack.supervise())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
    status = 0
    if exited.done() and not stop.is_set():
        child = exited.result()
        logger.error("%s exited with status %s; stopping everything", child.name, child.process.returncode)
        status = 1
    else:
        exited.cancel()
    print("\nStopping the gateway...", file=sys.stderr)
    await _stop_all(stack, web)
    print("Stopped.", file=sys.stderr)
    return status


async def _until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """Run `work` until it finishes or Ctrl-C sets `stop`; None when it was stopped."""
    running = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not running.done():
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        return None
    return running.result()


async def _stop_all(stack: LocalStack, web: LocalConsole | None) -> None:
    if web is not None:
        await web.stop()
    await stack.stop()


def _web_console(config: StackConfig) -> LocalConsole | None:
    """Return the console to build and serve, or None (with the reason printed) when it is off or cannot run."""
    try:
        console_config = ConsoleConfig.from_environment()
    except ConsoleUnavailable as error:
        _console_skipped(str(error))
        return None
    if console_config is None:
        return None
    host = "127.0.0.1" if config.http_host in ("0.0.0.0", "::") else config.http_host
    return LocalConsole(console_config, f"http://{host}:{config.http_port}", config.log_dir, sys.stderr)


async def _serve_console(web: LocalConsole, building: asyncio.Future[None]) -> str | None:
    """Wait for the console's build, then start it; return its URL, or None with the reason printed."""
    try:
        await building
        await web.start()
    except ConsoleUnavailable as error:
        await web.stop()
        _console_skipped(str(error))
        return None
    return web.config.url


def _console_skipped(reason: str) -> None:
    print(f"\nThe web console is not served: {reason} The gateway runs without it.\n", file=sys.stderr)


def _print_banner(config: StackConfig, credentials: Credentials | None, console_url: str | None) -> None:
    assert credentials is not None
    key_file = config.data_dir / "dev-api-key"
    token_file = config.data_dir / "admin-token"
    lines = [
        "",
        f"Generative Gateway is ready at {config.base_url}/v1",
        "",
        f"  API key (project `default`): {credentials.api_key}",
        f"  Admin token:                 {credentials.admin_token}",
        f"  Saved in {key_file} and {token_file}",
        f"  NATS URL for event subscribers on this machine: {config.data_dir / NATS_URL_FILE}",
        "",
        f"  Web console: {console_url}" if console_url else "  Web console: not served (the reason is above)",
        "",
        f"  Try: curl {config.base_url}/v1/chat/completions \\",
        f'         -H "Authorization: Bearer $(cat {key_file})" -H "Content-Type: application/json" \\',
        '         -d \'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}\'',
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), file=sys.stderr)
