"""Accounting's ingest rate: usage events per second into PostgreSQL and ClickHouse, by batch size.

Starts its own nats-server, embedded PostgreSQL and chdb in a temporary
folder (or uses DATABASE_URL and CLICKHOUSE_URL when set), then measures:

- `store`: the write path alone. For each batch, one PostgreSQL transaction
  records the events, updates the daily totals and queues the ClickHouse rows
  (`record_spend`), then the outbox block goes to ClickHouse (`flush`).
- `jetstream`: the same through the durable consumer, as the service runs
  it: events published to the usage stream first, then the time until the
  consumer has recorded and acknowledged all of them (PostgreSQL) and until
  the outbox is empty (ClickHouse), which runs alongside the next batches.

Besides the rates it prints the CPU microseconds per event that this
process (the consumer, with chdb's threads), PostgreSQL and nats-server spent
in each row: on a machine shared with other work the rates move from run to
run, the CPU per event much less.

Usage: python bench/accounting_ingest.py [--events 20000] [--batch-sizes 100,500,2000,5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import nats
import psutil

from gateway_accounting import database
from gateway_accounting.analytics import open_store, usage_rows
from gateway_accounting.announcements import UsageRecordedPublisher
from gateway_accounting.budgets import BudgetPublisher
from gateway_accounting.ingest import UsageIngestor
from gateway_accounting.outbox import AnalyticsOutbox
from gateway_accounting.spend import record_spend
from gateway_cli.postgres import EmbeddedPostgres
from gateway_cli.processes import executable
from gateway_contracts import CatalogEntry, CostBreakdown, TokenUsage, UsageEvent, bus
from gateway_contracts.kv import BucketMirror, ensure_bucket, ensure_stream


def make_events(count: int, project_id: str) -> list[UsageEvent]:
    now = datetime.now(UTC)
    cost = Decimal("0.000123456")
    return [
        UsageEvent(
            request_id=f"req_{uuid.uuid4().hex}",
            project_id=project_id,
            key_id=f"key_{index % 10}",
            model="openai/gpt-4o-mini",
            provider="openai",
            upstream_model="gpt-4o-mini",
            status="ok",
            http_status=200,
            stream=index % 2 == 0,
            usage=TokenUsage(prompt_tokens=120, completion_tokens=40, total_tokens=160, cached_tokens=20),
            cost=CostBreakdown(input=cost, output=cost, total=cost + cost),
            started_at=now,
            finished_at=now,
            latency_ms=12.5,
            ttft_ms=4.0,
        )
        for index in range(count)
    ]


class CpuMeter:
    """CPU seconds of the consumer (this process), chdb's worker, PostgreSQL and nats-server between `start` and `read`.

    PostgreSQL counts with its backends. This process counts without its
    children, which are nats-server and chdb's worker, each counted apart.
    """

    def __init__(self, postgres_pid: int | None, nats_pid: int, chdb_pid: int | None) -> None:
        self._processes = {"consumer": (psutil.Process(), False), "nats": (psutil.Process(nats_pid), False)}
        if chdb_pid is not None:
            self._processes["chdb"] = (psutil.Process(chdb_pid), False)
        if postgres_pid is not None:
            self._processes["postgres"] = (psutil.Process(postgres_pid), True)
        self._started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        totals = {}
        for name, (root, with_children) in self._processes.items():
            total = 0.0
            # Backends started during the row are counted from zero; their CPU before the start is not ours.
            for process in [root, *(root.children(recursive=True) if with_children else [])]:
                try:
                    times = process.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
            totals[name] = total
        return totals

    def start(self) -> None:
        self._started = self._now()

    def read(self, events: int) -> str:
        now = self._now()
        parts = [f"{name} {(now[name] - self._started.get(name, 0.0)) / events * 1e6:.1f}" for name in now]
        return ", ".join(parts)


async def bench_store(pool, outbox: AnalyticsOutbox, events: list[UsageEvent], batch: int) -> tuple[float, float]:
    """Seconds spent in PostgreSQL and in ClickHouse for `events` written in batches of `batch`."""
    postgres = clickhouse = 0.0
    for start in range(0, len(events), batch):
        began = time.perf_counter()
        await record_spend(pool, events[start : start + batch], usage_rows)
        middle = time.perf_counter()
        await outbox.flush()
        postgres += middle - began
        clickhouse += time.perf_counter() - middle
    return postgres, clickhouse


async def bench_jetstream(
    nats_url: str, pool, outbox: AnalyticsOutbox, budgets, events: list[UsageEvent], batch: int, meter: CpuMeter
) -> tuple[float, float]:
    """Seconds from starting the consumer until it acknowledged every event, and until ClickHouse has them all."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, bus.USAGE_STREAM)
    await js.purge_stream(bus.USAGE_STREAM.name)
    try:
        await js.delete_consumer(bus.USAGE_STREAM.name, bus.ACCOUNTING_USAGE_CONSUMER)
    except nats.js.errors.NotFoundError:
        pass
    acks = [await js.publish_async(bus.USAGE_EVENT_SUBJECT, event.model_dump_json().encode()) for event in events]
    await asyncio.gather(*acks)

    # An empty catalog: the counters label every model `other`, which costs what a real label costs.
    catalog = BucketMirror(await ensure_bucket(js, bus.CATALOG_BUCKET), CatalogEntry)
    recorded = UsageRecordedPublisher(nc)
    ingestor = UsageIngestor(
        js, pool, outbox, budgets, max_events=batch, max_wait=0.2, catalog=catalog, recorded=recorded
    )
    meter.start()
    began = time.perf_counter()
    task = asyncio.create_task(ingestor.run())
    deadline = began + 600
    # The ingestor has no completion event to wait on; a 10 ms poll is precise enough here.
    while ingestor.events_written < len(events) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    acknowledged = time.perf_counter() - began
    while await outbox.pending_blocks() and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    delivered = time.perf_counter() - began
    ingestor.stop()
    await asyncio.wait_for(task, 30)
    await nc.close()
    return acknowledged, delivered


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="accounting-bench-"))
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        *[executable("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(folder / "nats")],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    postgres = None
    try:
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(folder / "postgres")
            database_url = await postgres.start()
        pool = await database.connect(database_url)
        await database.apply_schema(pool)
        store = open_store(os.environ.get("CLICKHOUSE_URL"), folder / "clickhouse")
        await store.apply_schema()
        outbox = AnalyticsOutbox(pool, store)
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        budgets = BudgetPublisher(
            pool, js, await ensure_bucket(js, bus.BUDGET_BUCKET), await ensure_bucket(js, bus.LEDGER_BUCKET)
        )

        print(f"{args.events} events per run; ClickHouse: {'server' if os.environ.get('CLICKHOUSE_URL') else 'chdb'}")
        meter = CpuMeter(postgres.pid if postgres is not None else None, server.pid, getattr(store, "worker_pid", None))
        print(
            "| path | batch | events/s into PostgreSQL | events/s into ClickHouse | events/s both | CPU µs per event |"
        )
        print("|---|---:|---:|---:|---:|---|")
        for batch in args.batch_sizes if "store" in args.paths else []:
            events = make_events(args.events, f"proj_store_{batch}")
            meter.start()
            pg_seconds, ch_seconds = await bench_store(pool, outbox, events, batch)
            both = args.events / (pg_seconds + ch_seconds)
            print(
                f"| store | {batch} | {args.events / pg_seconds:,.0f} | {args.events / ch_seconds:,.0f} | {both:,.0f}"
                f" | {meter.read(args.events)} |"
            )
        for batch in args.batch_sizes if "jetstream" in args.paths else []:
            events = make_events(args.events, f"proj_stream_{batch}")
            acknowledged, delivered = await bench_jetstream(
                f"nats://127.0.0.1:{port}", pool, outbox, budgets, events, batch, meter
            )
            print(
                f"| jetstream | {batch} | {args.events / acknowledged:,.0f} | {args.events / delivered:,.0f} |"
                f" {args.events / max(acknowledged, delivered):,.0f} | {meter.read(args.events)} |"
            )
        worker_pid = getattr(store, "worker_pid", None)
        if worker_pid is not None:
            print(f"\nResident memory of chdb's worker after the runs: {_memory(worker_pid)}")
        await nc.close()
        await store.close()
        await pool.close()
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)
        if postgres is not None:
            await postgres.stop()


def _memory(pid: int) -> str:
    """The current and peak resident memory of one process, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return f"{fields['VmRSS']:.0f} MiB (peak {fields['VmHWM']:.0f} MiB)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000, help="events per measured run (default: 20000)")
    parser.add_argument(
        "--batch-sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[100, 500, 2000, 5000],
        help="comma-separated batch sizes (default: 100,500,2000,5000)",
    )
    parser.add_argument(
        "--paths",
        type=lambda text: text.split(","),
        default=["store", "jetstream"],
        help="comma-separated paths to measure, `store` and `jetstream` (default: both)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(_parse(sys.argv[1:])))
