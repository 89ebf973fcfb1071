"""One measurement: a scenario's load against a target, with the CPU time of every process involved."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import psutil

from chat_load.client import LoadResult, LoadSpec, result_from_json
from chat_load.processes import ProcessMeter
from chat_load.scenarios import Scenario, request_body
from chat_load.targets import Target

_BENCH_DIR = Path(__file__).resolve().parent.parent


class LoadGeneratorError(Exception):
    """The load generator process failed; the message carries its error output."""


@dataclass(slots=True)
class Measurement:
    scenario: str
    target: str
    result: LoadResult
    # CPU seconds per process name during the run, the emulator included.
    cpu_seconds: dict[str, float]
    # Read and write system calls per process name during the run.
    system_calls: dict[str, int]
    # CPU seconds of the load generator process, start-up included.
    client_process_cpu_seconds: float
    # CPU seconds that the rest of the machine used meanwhile (other users'
    # work, idle targets, this harness), a measure of how noisy the run was.
    other_cpu_seconds: float
    wall_seconds: float

    def cpu_ms_per_request(self, name: str) -> float | None:
        if not self.result.ok or name not in self.cpu_seconds:
            return None
        return self.cpu_seconds[name] * 1000 / self.result.ok

    def system_calls_per_request(self, name: str) -> float | None:
        if not self.result.ok or name not in self.system_calls:
            return None
        return self.system_calls[name] / self.result.ok

    def to_json(self) -> dict:
        return asdict(self)


async def run_client(spec: LoadSpec) -> LoadResult:
    """Run the load generator in a process of its own and return what it measured."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_BENCH_DIR), os.environ.get("PYTHONPATH")]))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chat_load.client",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    # The client stops by itself at the time limit plus its grace period; the
    # extra minute here only guards against a hung process.
    timeout = spec.time_limit + spec.grace + 60
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(orjson.dumps(asdict(spec))), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise LoadGeneratorError(f"The load generator did not finish within {timeout:.0f} s and was killed.") from None
    if process.returncode != 0:
        raise LoadGeneratorError(f"The load generator exited with status {process.returncode}: {stderr.decode()}")
    return result_from_json(orjson.loads(stdout))


async def measure(target: Target, scenario: Scenario, emulator_pid: int) -> Measurement:
    """Send the scenario's load to the target and measure it, including the work the target defers."""
    spec = LoadSpec(
        url=target.url,
        headers=target.headers,
        body=request_body(target.model, scenario.stream),
        stream=scenario.stream,
        concurrency=scenario.concurrency,
        requests=scenario.requests,
        rate=scenario.rate,
        time_limit=scenario.time_limit,
    )
    meter = ProcessMeter({**target.pids, "emulator": emulator_pid})
    machine_before = _machine_busy_seconds()
    children_before = _reaped_children_cpu_seconds()
    own_before = time.process_time()
    started = time.monotonic()
    meter.start()

    result = await run_client(spec)
    if target.settle is not None:
        await target.settle()

    usage = meter.stop()
    cpu = {name: reading.cpu_seconds for name, reading in usage.items()}
    wall = time.monotonic() - started
    client_cpu = _reaped_children_cpu_seconds() - children_before
    own_cpu = time.process_time() - own_before
    other = _machine_busy_seconds() - machine_before - sum(cpu.values()) - client_cpu - own_cpu
    return Measurement(
        scenario=scenario.key,
        target=target.key,
        result=result,
        cpu_seconds=cpu,
        system_calls={name: reading.system_calls for name, reading in usage.items()},
        client_process_cpu_seconds=client_cpu,
        other_cpu_seconds=max(other, 0.0),
        wall_seconds=wall,
    )


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    # `guest` time is already part of `user` on Linux.
    return times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)


def _reaped_children_cpu_seconds() -> float:
    """CPU time of this process's children that have exited: here, the load generators."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
