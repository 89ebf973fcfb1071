"""The `gateway` command line."""

from __future__ import annotations

import argparse

from gateway_cli import SERVICES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="Run Generative Gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up",
        help="start NATS, PostgreSQL, the provider emulator and every service in the foreground",
    )
    serve = commands.add_parser("serve", help="run one service in the foreground, as a container does")
    serve.add_argument("service", choices=SERVICES)
    migrate = commands.add_parser(
        "migrate", help="apply the database schemas of the named services (default: every service with one), then exit"
    )
    migrate.add_argument("services", nargs="*", metavar="SERVICE")
    health = commands.add_parser(
        "health", help="exit 0 when the service on this host is ready (or alive, with --live), 1 when it is not"
    )
    health.add_argument("service", choices=SERVICES)
    health.add_argument("--live", action="store_true", help="check liveness instead of readiness")
    bootstrap = commands.add_parser(
        "bootstrap", help="create the first project, API key and admin token over NATS_URL, and print them once"
    )
    bootstrap.add_argument("--project", default="default", help="name of the first project (default: default)")
    bootstrap.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for a reply from accounting (default: 60)"
    )
    args = parser.parse_args(argv)

    # Each command imports only what it needs: `gateway health` runs every few seconds in containers.
    if args.command == "up":
        from gateway_cli.up import run_up

        return run_up()
    if args.command == "migrate":
        from gateway_cli.migrate import run_migrate

        return run_migrate(args.services)
    if args.command == "health":
        from gateway_cli.probe import run_health

        return run_health(args.service, args.live)
    if args.command == "bootstrap":
        from gateway_cli.bootstrap import run_bootstrap

        return run_bootstrap(args.project, args.timeout)

    from gateway_cli.serve import run_service

    return run_service(args.service)


if __name__ == "__main__":
    raise SystemExit(main())
