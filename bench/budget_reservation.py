"""The cost of a budget reservation at the edge: the compare-and-set ledger of `gateway_edge.budgets`.

Starts its own nats-server in a temporary folder, writes a budget record with
a cap large enough never to refuse, and measures `BudgetGate.reserve`:

- one request at a time (the added latency of a capped request),
- 50 at once on one edge (batched compare-and-set writes),
- 50 at once on each of two edges with their own connections (writes that
  conflict and retry),
- the check of an uncapped project, which is a dictionary lookup,
- and, for comparison, a bare KV update with an expected revision and a
  bare NATS request/reply to a responder in the same process.

CPU is this process's CPU time per reservation, nats-server excluded.

Usage: python bench/budget_reservation.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import nats

from gateway_cli.processes import executable
from gateway_contracts import BudgetRecord, bus
from gateway_contracts.kv import BucketMirror, ensure_bucket
from gateway_edge.budgets import BudgetGate

AMOUNT = Decimal("0.000123")


async def gate_for(url: str, project_id: str) -> tuple[BudgetGate, BucketMirror[BudgetRecord], nats.NATS]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    records = BucketMirror(await ensure_bucket(js, bus.BUDGET_BUCKET), BudgetRecord)
    # `start` returns once the bucket's current values, the record among them, are loaded.
    await records.start()
    assert records.get(project_id) is not None
    return BudgetGate(records, await ensure_bucket(js, bus.LEDGER_BUCKET)), records, nc


async def sequential(gate: BudgetGate, record: BudgetRecord, count: int) -> tuple[list[float], float]:
    latencies = []
    cpu = time.process_time()
    for _ in range(count):
        began = time.perf_counter()
        await gate.reserve(record, "key_bench", AMOUNT, time.time())
        latencies.append(time.perf_counter() - began)
    return latencies, (time.process_time() - cpu) / count


async def concurrent(gates: list[BudgetGate], record: BudgetRecord, count: int, width: int) -> tuple[float, float]:
    """Reservations per second with `width` requests in flight on each gate, and CPU per reservation."""
    per_gate = count // len(gates)

    async def worker(gate: BudgetGate, share: int) -> None:
        for _ in range(share):
            await gate.reserve(record, "key_bench", AMOUNT, time.time())

    cpu = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(
        *(worker(gate, per_gate // width) for gate in gates for _ in range(width)),
    )
    elapsed = time.perf_counter() - began
    done = (per_gate // width) * width * len(gates)
    return done / elapsed, (time.process_time() - cpu) / done


async def raw_operations(nc: nats.NATS, count: int) -> None:
    """Time bare compare-and-sets and bare request/replies, one at a time, for comparison with a reservation."""
    bucket = await ensure_bucket(nc.jetstream(), bus.LEDGER_BUCKET)
    revision = await bucket.put("bench.raw", b"0")

    async def answer(msg: nats.aio.msg.Msg) -> None:
        await nc.publish(msg.reply, b"ok")

    subscription = await nc.subscribe("bench.rpc", cb=answer)
    for name in ("bare KV compare-and-set", "bare request/reply"):
        latencies = []
        cpu = time.process_time()
        for index in range(count):
            began = time.perf_counter()
            if name.startswith("bare KV"):
                revision = await bucket.update("bench.raw", str(index).encode(), last=revision)
            else:
                await nc.request("bench.rpc", b"ping", timeout=5)
            latencies.append(time.perf_counter() - began)
        per_call = (time.process_time() - cpu) / count
        latencies.sort()
        print(
            f"| {name} | {count / sum(latencies):,.0f} | {statistics.median(latencies) * 1000:.2f}"
            f" | {latencies[int(count * 0.99)] * 1000:.2f} | {per_call * 1e6:.0f} µs |"
        )
    await subscription.unsubscribe()


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="budget-bench-"))
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        executable("nats-server"),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-js",
        "-sd",
        str(folder / "nats"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    try:
        await asyncio.sleep(0.5)
        project_id = "proj_bench"
        record = BudgetRecord(project_id=project_id, cap_usd=Decimal(10**9), updated_at=datetime.now(UTC))
        writer = await nats.connect(url)
        budgets = await ensure_bucket(writer.jetstream(), bus.BUDGET_BUCKET)
        await budgets.put(project_id, record.model_dump_json().encode())

        first, first_records, first_nc = await gate_for(url, project_id)
        second, second_records, second_nc = await gate_for(url, project_id)

        latencies, cpu = await sequential(first, record, args.requests // 5)
        latencies.sort()
        print("| case | reservations/s | p50 ms | p99 ms | CPU per reservation |")
        print("|---|---:|---:|---:|---:|")
        print(
            f"| one at a time, one edge | {len(latencies) / sum(latencies):,.0f}"
            f" | {statistics.median(latencies) * 1000:.2f} | {latencies[int(len(latencies) * 0.99)] * 1000:.2f}"
            f" | {cpu * 1e6:.0f} µs |"
        )
        rate, cpu = await concurrent([first], record, args.requests, 50)
        print(f"| 50 in flight, one edge | {rate:,.0f} | | | {cpu * 1e6:.0f} µs |")
        rate, cpu = await concurrent([first, second], record, args.requests, 50)
        print(f"| 50 in flight on each of two edges | {rate:,.0f} | | | {cpu * 1e6:.0f} µs |")

        await raw_operations(first_nc, args.requests // 5)

        lookups = 100_000
        began = time.perf_counter()
        for _ in range(lookups):
            first.record("proj_without_cap")
        print(f"| uncapped project | | {(time.perf_counter() - began) / lookups * 1000:.5f} | | |")

        for mirror in (first_records, second_records):
            await mirror.stop()
        for connection in (first_nc, second_nc, writer):
            await connection.close()
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="reservations per concurrent case (default: 5000)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(_parse(sys.argv[1:])))
