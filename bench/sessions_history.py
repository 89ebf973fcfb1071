"""Benchmark of the time that reading a long session's history adds to a chat request.

Starts the local stack (as `make up` does, with the provider emulator as the
upstream and no artificial delays) on free ports in a temporary folder. Fills
one session with `--turns` turns. Then sends `--requests` requests of each
case at concurrency 1, interleaved: without a session, and continuing the
session from the turn that was newest after filling it, so that every request
reads the same `--turns`-turn history. Reports the medians and the added time
as a ratio to the request without a session. The same two message lists sent
to the emulator directly show how much of the difference is the upstream
reading the longer body. A second pass runs each gateway case on its own and
reports the CPU time that each process spent per request, which depends far
less than latency on what else the machine is running.

Usage: .venv/bin/python bench/sessions_history.py [--turns 200] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from gateway_cli.stack import LocalStack, StackConfig

MODEL = "openai/gpt-4o-mini"
# About 60 words per message, as a conversational turn has.
_SENTENCE = "The gateway keeps the conversation on the server so that clients send only the newest message. "
_TIMEOUT_SECONDS = 30.0
# Requests per block of the CPU pass, and seconds of the idle measurement before it.
_CPU_BLOCK = 20
_IDLE_SECONDS = 3.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def user(index: int, label: str) -> dict[str, str]:
    return {"role": "user", "content": f"{label} {index}. {_SENTENCE * 4}"}


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> float:
    """Run one request and return its latency in milliseconds."""
    started = time.perf_counter()
    response = await call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"A benchmark request failed with {response.status_code}: {response.text[:500]}")
    return elapsed


async def fill_session(gateway: httpx.AsyncClient, session: str, turns: int) -> str:
    """Send `turns / 2` requests on the session; returns its newest turn's id."""
    for index in range(turns // 2):
        response = await gateway.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [user(index, "History")], "session_id": session},
        )
        response.raise_for_status()
    detail = (await gateway.get(f"/v1/sessions/{session}")).json()
    if detail["turn_count"] != turns:
        raise SystemExit(f"The session has {detail['turn_count']} turns instead of {turns}.")
    return str(detail["head_turn_id"])


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """Return the CPU seconds (user and system) that each part has used, PostgreSQL's backends included."""
    totals: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            process = psutil.Process(pid)
            members = [process, *process.children(recursive=True)] if name == "postgres" else [process]
        except psutil.NoSuchProcess:
            continue
        total = 0.0
        for member in members:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        totals[name] = total
    return totals


async def measure(
    stack: LocalStack, stack_config: StackConfig, api_key: str, turns: int, requests: int
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_keepalive_connections=2)
    async with (
        httpx.AsyncClient(
            base_url=stack_config.base_url, headers=headers, timeout=_TIMEOUT_SECONDS, limits=limits
        ) as gateway,
        httpx.AsyncClient(
            base_url=f"{stack_config.emulator_url}/openai/v1",
            headers={"Authorization": "Bearer emulator"},
            timeout=_TIMEOUT_SECONDS,
            limits=limits,
        ) as emulator,
    ):
        session = f"bench-{os.getpid()}"
        head = await fill_session(gateway, session, turns)
        branch = await session_branch(gateway, session)
        history = (await gateway.get(f"/v1/sessions/{session}/branches/{branch}")).json()["messages"]

        def plain(index: int) -> Callable[[], Awaitable[httpx.Response]]:
            body = {"model": MODEL, "messages": [user(index, "Question")]}
            return lambda: gateway.post("/v1/chat/completions", json=body)

        def with_session(index: int) -> Callable[[], Awaitable[httpx.Response]]:
            body = {
                "model": MODEL,
                "messages": [user(index, "Question")],
                "session_id": session,
                "parent_turn_id": head,
            }
            return lambda: gateway.post("/v1/chat/completions", json=body)

        def direct(index: int, prefix: list[dict[str, Any]]) -> Callable[[], Awaitable[httpx.Response]]:
            body = {"model": "gpt-4o-mini", "messages": [*prefix, user(index, "Question")]}
            return lambda: emulator.post("/chat/completions", json=body)

        cases: dict[str, Callable[[int], Callable[[], Awaitable[httpx.Response]]]] = {
            "gateway, no session": plain,
            f"gateway, {turns}-turn session": with_session,
            "emulator direct, 1 message": lambda index: direct(index, []),
            f"emulator direct, {turns + 1} messages": lambda index: direct(index, history),
        }
        for index in range(min(50, requests)):
            for make in cases.values():
                await timed(make(index))

        results: dict[str, list[float]] = {name: [] for name in cases}
        for index in range(requests):
            # Interleaved, so that drift in the machine's load affects every case alike.
            for name, make in cases.items():
                results[name].append(await timed(make(index)))

        # Processes also spend CPU while idle (timers, polls, background
        # merges), in proportion to wall time, and a slower request has more
        # of it. That idle rate is measured first and taken off each block.
        idle_before = cpu_seconds(stack.pids())
        idle_started = time.perf_counter()
        await asyncio.sleep(_IDLE_SECONDS)
        idle_wall = time.perf_counter() - idle_started
        idle_after = cpu_seconds(stack.pids())
        idle_rate = {part: (idle_after[part] - idle_before.get(part, 0.0)) / idle_wall for part in idle_after}

        # Blocks of each case in turn, so that background work falls on both cases alike.
        cpu: dict[str, dict[str, float]] = {name: {} for name in list(cases)[:2]}
        for start in range(0, requests, _CPU_BLOCK):
            for name in cpu:
                before = cpu_seconds(stack.pids())
                block_started = time.perf_counter()
                for index in range(start, min(start + _CPU_BLOCK, requests)):
                    await timed(cases[name](index))
                block_wall = time.perf_counter() - block_started
                after = cpu_seconds(stack.pids())
                for part, seconds in after.items():
                    busy = seconds - before.get(part, 0.0) - idle_rate.get(part, 0.0) * block_wall
                    cpu[name][part] = cpu[name].get(part, 0.0) + busy * 1000 / requests
        return results, cpu


async def session_branch(gateway: httpx.AsyncClient, session: str) -> str:
    detail = (await gateway.get(f"/v1/sessions/{session}")).json()
    return str(detail["branches"][0]["id"])


def report(results: dict[str, list[float]], cpu: dict[str, dict[str, float]], turns: int, requests: int) -> str:
    names = list(results)
    medians = {name: statistics.median(values) for name, values in results.items()}
    p95 = {name: statistics.quantiles(values, n=20)[-1] for name, values in results.items()}
    baseline, session, direct_one, direct_long = (medians[name] for name in names)
    added = session - baseline
    upstream = direct_long - direct_one
    lines = [
        f"Session history benchmark: {turns}-turn history, {requests} requests per case, concurrency 1",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {sys.platform}",
        "",
        "| case | median ms | p95 ms |",
        "|---|---:|---:|",
        *[f"| {name} | {medians[name]:.2f} | {p95[name]:.2f} |" for name in names],
        "",
        f"Added by the session, median: {added:.2f} ms, {session / baseline:.2f}x the request without a session "
        f"(+{added / baseline:.0%}).",
        f"Of that, the upstream reading the longer body (emulator direct, {turns + 1} against 1 message): "
        f"{upstream:.2f} ms; the gateway's own share: {added - upstream:.2f} ms.",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "CPU milliseconds per request, by process, without what the process spends while idle:",
        "",
        f"| process | {names[0]} | {names[1]} | added |",
        "|---|---:|---:|---:|",
    ]
    plain, session_cpu = cpu[names[0]], cpu[names[1]]
    for part in sorted(plain):
        lines.append(
            f"| {part} | {plain[part]:.3f} | {session_cpu.get(part, 0.0):.3f} "
            f"| {session_cpu.get(part, 0.0) - plain[part]:+.3f} |"
        )
    plain_total, session_total = sum(plain.values()), sum(session_cpu.values())
    lines.append(f"| all | {plain_total:.3f} | {session_total:.3f} | {session_total - plain_total:+.3f} |")
    return "\n".join(lines)


async def run(turns: int, requests: int) -> str:
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as root:
        config = StackConfig(
            data_dir=Path(root) / "data",
            http_port=free_port(),
            nats_port=free_port(),
            emulator_port=free_port(),
            log_dir=Path(root) / "logs",
            log_format="json",
        )
        stack = LocalStack(config)
        credentials = await stack.start()
        try:
            results, cpu = await measure(stack, config, credentials.api_key, turns, requests)
        finally:
            await stack.stop()
    return report(results, cpu, turns, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200, help="turns in the session's history (default: 200)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per case (default: 300)")
    args = parser.parse_args()
    if args.turns < 2 or args.turns % 2:
        parser.error("--turns must be an even number of at least 2: each request adds two turns")
    if not 10 <= args.requests <= 10_000:
        parser.error("--requests must be between 10 and 10000")
    print(asyncio.run(run(args.turns, args.requests)))


if __name__ == "__main__":
    main()
