"""Sum the cost per model from the gateway's `usage.recorded` events and print it.

    pip install "./libs/contracts[nats]"
    python examples/cost_per_model.py --durable cost-dashboard --since 2026-11-30T00:00:00Z

The durable consumer is this program's own: the server remembers how far it
read, so the next run continues there. The server tracks each consumer
apart, so the gateway's own consumers do not wait for this one. `--since`
or `--from-sequence` set where a new consumer starts; without them it starts
at the oldest event the stream still holds. The program stops after `--idle`
seconds without a new event, or after `--max-events` events.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from gateway_contracts import bus
from gateway_contracts.public_events import UsageRecorded
from gateway_contracts.registry import UnknownEvent, decode_event

_FETCH_BATCH = 100


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


async def consume(args: argparse.Namespace) -> CostTable:
    table = CostTable()
    nc = await nats.connect(args.nats_url, name=f"cost-per-model-{args.durable}")
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(
            bus.USAGE_RECORDED_SUBJECT, durable=args.durable, stream=bus.USAGE_STREAM.name, config=consumer_config(args)
        )
        handled = 0
        while args.max_events is None or handled < args.max_events:
            try:
                messages = await subscription.fetch(_FETCH_BATCH, timeout=args.idle)
            except TimeoutError:
                break
            for message in messages:
                try:
                    event = decode_event(message.data, message.subject)
                except (UnknownEvent, ValidationError) as error:
                    # A newer version or a broken message: leave it to a newer release of this program.
                    print(f"skipped stream sequence {message.metadata.sequence.stream}: {error}", file=sys.stderr)
                    await message.term()
                    continue
                if isinstance(event, UsageRecorded):
                    table.add(event)
                await message.ack()
                handled += 1
        await subscription.unsubscribe()
    finally:
        await nc.close()
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print the cost per model from the gateway's usage events.")
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222", help="the NATS server the gateway uses")
    parser.add_argument("--durable", default="cost-per-model", help="name of this program's durable consumer")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--since", type=datetime.fromisoformat, help="start a new consumer at this time (ISO 8601 with a zone)"
    )
    start.add_argument("--from-sequence", type=int, help="start a new consumer at this stream sequence")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds without an event before the program stops")
    parser.add_argument("--max-events", type=int, help="stop after this many events")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    table = asyncio.run(consume(parse_args(argv)))
    print(table.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
