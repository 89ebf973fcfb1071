"""Sum the cost per model from the gateway's `usage.recorded` events and print it.

    pip install "./libs/contracts[nats]"
    python examples/cost_per_model.py --durable cost-dashboard --since 2026-11-30T00:00:00Z

The NATS URL comes from `--nats-url`, else from the `NATS_URL` variable,
else from the file `nats-url` that `gateway up` writes into its data folder
(`$GATEWAY_DATA_DIR`, by default `.gateway`), else `nats://127.0.0.1:4222`.

The durable consumer is this program's own: the server remembers how far it
read, so the next run continues there. The server tracks each consumer
apart, so the gateway's own consumers do not wait for this one. `--since`
or `--from-sequence` set where a new consumer starts; without them it starts
at the oldest event the stream still holds. The program stops after `--idle`
seconds without a new event, or after `--max-events` events. It exits with
status 1 and one line on stderr when it cannot connect or read the stream,
and with status 2 on invalid options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from gateway_contracts import bus
from gateway_contracts.public_events import UsageRecorded
from gateway_contracts.registry import InvalidEvent, decode_event

_FETCH_BATCH = 100
_DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
_CONNECT_TIMEOUT_SECONDS = 5.0
# JetStream accepts more characters in a durable name, but no `.`, `*`, `>`,
# whitespace or path separator; this set is safe everywhere.
_DURABLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SubscriberError(Exception):
    """An error that ends the program; its message states the cause and the fix."""


@dataclass
class CostTable:
    cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Event ids already counted: delivery is at least once.
    seen: set[str] = field(default_factory=set)

    def add(self, event: UsageRecorded) -> None:
        if event.event_id in self.seen:
            return
        self.seen.add(event.event_id)
        self.cost[event.model] += event.cost.total
        self.requests[event.model] += 1

    def render(self) -> str:
        lines = [f"{'model':<40} {'requests':>8} {'cost_usd':>14}"]
        for model in sorted(self.cost, key=lambda name: (-self.cost[name], name)):
            lines.append(f"{model:<40} {self.requests[model]:>8} {self.cost[model]:>14f}")
        return "\n".join(lines)


def consumer_config(args: argparse.Namespace) -> ConsumerConfig:
    """Describe the durable consumer; the start options apply only when the server creates it."""
    config = ConsumerConfig(
        durable_name=args.durable,
        filter_subject=bus.USAGE_RECORDED_SUBJECT,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30.0,
    )
    if args.since is not None:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = args.since
    elif args.from_sequence is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = args.from_sequence
    return config


async def connect(url: str, durable: str) -> nats.NATS:
    """Connect without reconnecting, so a wrong URL or token fails within seconds instead of retrying."""
    errors: list[Exception] = []

    async def remember(error: Exception) -> None:
        # `main` reports the failure in one line; nats-py's default callback
        # would log every attempt with a traceback.
        errors.append(error)

    try:
        # nats-py tries a server once more after a failed first attempt
        # (max_reconnect_attempts=1), then raises NoServersError.
        return await nats.connect(
            url,
            name=f"cost-per-model-{durable}",
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=1.0,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            error_cb=remember,
        )
    except (NatsError, OSError, TimeoutError) as error:
        cause = errors[-1] if errors else error
    if "authorization violation" in str(cause).lower():
        raise SubscriberError(
            f"NATS at {_redacted(url)} rejected the credentials (Authorization Violation); "
            "pass the URL from the `nats-url` file that `gateway up` writes."
        )
    if isinstance(cause, (OSError, TimeoutError)):
        raise SubscriberError(
            f"NATS at {_redacted(url)} is unreachable ({type(cause).__name__}: {cause}); "
            "start the gateway, or pass its NATS server with --nats-url."
        )
    raise SubscriberError(f"Connecting to NATS at {_redacted(url)} failed: {cause}")


async def consume(args: argparse.Namespace) -> CostTable:
    table = CostTable()
    nc = await connect(args.nats_url, args.durable)
    try:
        js = nc.jetstream()
        try:
            subscription = await js.pull_subscribe(
                bus.USAGE_RECORDED_SUBJECT,
                durable=args.durable,
                stream=bus.USAGE_STREAM.name,
                config=consumer_config(args),
            )
        except NotFoundError:
            raise SubscriberError(
                f"The stream {bus.USAGE_STREAM.name} does not exist yet; send a request through the gateway first."
            ) from None
        except NatsError as error:
            raise SubscriberError(f"Creating the consumer `{args.durable}` failed: {error}") from None
        try:
            await read_events(subscription, args, table)
        except NatsError as error:
            raise SubscriberError(f"Reading from {bus.USAGE_STREAM.name} failed: {error}") from None
        await subscription.unsubscribe()
    finally:
        await nc.close()
    return table


async def read_events(
    subscription: JetStreamContext.PullSubscription, args: argparse.Namespace, table: CostTable
) -> None:
    handled = 0
    while args.max_events is None or handled < args.max_events:
        try:
            messages = await subscription.fetch(_FETCH_BATCH, timeout=args.idle)
        except TimeoutError:
            break
        for message in messages:
            try:
                event = decode_event(message.data, message.subject)
            except (InvalidEvent, ValidationError) as error:
                # A newer version or a broken message: leave it to a newer release of this program.
                print(f"skipped stream sequence {message.metadata.sequence.stream}: {error}", file=sys.stderr)
                await message.term()
                continue
            if isinstance(event, UsageRecorded):
                table.add(event)
            await message.ack()
            handled += 1


def default_nats_url() -> str:
    """Return `NATS_URL`, else the URL that `gateway up` saved, else the local default."""
    if os.environ.get("NATS_URL"):
        return os.environ["NATS_URL"]
    saved = Path(os.environ.get("GATEWAY_DATA_DIR", ".gateway")) / "nats-url"
    try:
        return saved.read_text().strip() or _DEFAULT_NATS_URL
    except FileNotFoundError:
        return _DEFAULT_NATS_URL
    except OSError as error:
        raise SubscriberError(f"Reading the NATS URL from {saved} failed: {error}; pass --nats-url.") from None


def durable_name(value: str) -> str:
    if not _DURABLE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(f"invalid durable name {value!r}: use 1 to 64 letters, digits, `-` or `_`")
    return value


def zoned_time(value: str) -> datetime:
    example = "2026-11-30T00:00:00+00:00 or 2026-11-30T00:00:00Z"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid time {value!r}: use ISO 8601 with a zone, e.g. {example}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"the time {value!r} has no zone: use a time with a zone, e.g. {example}")
    return moment


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {value!r}: use a whole number of 1 or more") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is less than 1: use a whole number of 1 or more")
    return number


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{value} seconds is out of range: use more than 0 and at most 3600")
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print the cost per model from the gateway's usage events.")
    parser.add_argument(
        "--nats-url",
        help="the NATS server the gateway uses; default: $NATS_URL, else $GATEWAY_DATA_DIR/nats-url "
        f"(written by `gateway up`), else {_DEFAULT_NATS_URL}",
    )
    parser.add_argument(
        "--durable", type=durable_name, default="cost-per-model", help="name of this program's durable consumer"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--since", type=zoned_time, help="start a new consumer at this time (ISO 8601 with a zone)")
    start.add_argument("--from-sequence", type=positive_int, help="start a new consumer at this stream sequence")
    parser.add_argument(
        "--idle", type=positive_seconds, default=5.0, help="seconds without an event before the program stops"
    )
    parser.add_argument("--max-events", type=positive_int, help="stop after this many events")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.nats_url is None:
            args.nats_url = default_nats_url()
        table = asyncio.run(consume(args))
    except SubscriberError as error:
        print(f"cost_per_model: {error}", file=sys.stderr)
        return 1
    print(table.render())
    return 0


def _redacted(url: str) -> str:
    # The URL of a local stack carries its token before the `@`.
    return re.sub(r"//[^@/]*@", "//***@", url)


if __name__ == "__main__":
    raise SystemExit(main())
