"""`gateway up`: the whole system in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from gateway_cli.stack import Credentials, LocalStack, StackConfig, StackError

logger = logging.getLogger("gateway_cli.up")


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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    starting = asyncio.ensure_future(stack.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return 130
    stopping.cancel()
    credentials = starting.result()
    _print_banner(config, credentials)

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
    await stack.stop()
    print("Stopped.", file=sys.stderr)
    return status


def _print_banner(config: StackConfig, credentials: Credentials) -> None:
    key_file = config.data_dir / "dev-api-key"
    token_file = config.data_dir / "admin-token"
    lines = [
        "",
        f"Generative Gateway is ready at {config.base_url}/v1",
        "",
        f"  API key (project `default`): {credentials.api_key}",
        f"  Admin token:                 {credentials.admin_token}",
        f"  Saved in {key_file} and {token_file}",
        "",
        f"  Try: curl {config.base_url}/v1/chat/completions \\",
        f'         -H "Authorization: Bearer $(cat {key_file})" -H "Content-Type: application/json" \\',
        '         -d \'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}\'',
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), file=sys.stderr)
