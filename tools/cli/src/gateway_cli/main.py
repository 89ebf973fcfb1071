"""The `gateway` command line."""

from __future__ import annotations

import argparse

from gateway_cli.serve import SERVICES, run_service
from gateway_cli.up import run_up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="Run Generative Gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up",
        help="start NATS, PostgreSQL, the provider emulator and every service in the foreground",
    )
    serve = commands.add_parser("serve", help="run one service in the foreground, as a container does")
    serve.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)

    if args.command == "up":
        return run_up()
    return run_service(args.service)


if __name__ == "__main__":
    raise SystemExit(main())
