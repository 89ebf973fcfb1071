"""Run the emulator: `provider-emulator --port 8090`."""

from __future__ import annotations

import argparse

from aiohttp import web

from provider_emulator.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve emulated LLM provider APIs.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="TCP port to listen on (default: 8090)")
    parser.add_argument(
        "--record-limit", type=int, default=1000, help="received requests kept for /_emulator/requests (default: 1000)"
    )
    args = parser.parse_args()
    web.run_app(create_app(args.record_limit), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
