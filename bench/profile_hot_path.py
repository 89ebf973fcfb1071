"""Profile the gateway's Python services with py-spy while the benchmark's load runs through them.

`make bench-profile` runs this: it starts the local stack as `bench/run.py`
does, sends a non-streaming load at concurrency 50 and then a streaming load
at concurrency 10, and samples the edge, the router and accounting during
each. For every process it writes py-spy's collapsed stacks
(`<load>-<process>.txt`, for flame graph tools) and `summary.md`, which lists
where the samples fall: by package and by function, self and inclusive.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load.client import LoadSpec
from chat_load.runner import run_client
from chat_load.scenarios import WARM_UP, request_body
from chat_load.targets import GatewayStack

logger = logging.getLogger("bench.profile")

BENCH_DIR = Path(__file__).resolve().parent
PROFILED = ("edge", "router", "accounting")
SAMPLES_PER_SECOND = 200
TOP_FUNCTIONS = 25

# py-spy writes each frame as `function (path:line)`.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*):(?P<line>\d+)\)$")


@dataclass(frozen=True, slots=True)
class Load:
    key: str
    title: str
    stream: bool
    concurrency: int


LOADS = (
    Load("non-streaming-c50", "non-streaming, concurrency 50", stream=False, concurrency=50),
    Load("streaming-c10", "streaming, concurrency 10", stream=True, concurrency=10),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="seconds of load and sampling per load (default 20)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=BENCH_DIR / ".work", help="folder for the stack, logs and profiles"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        logger.error("py-spy is not installed; run `make bench-profile`, which installs bench/requirements.txt.")
        return 1
    out_dir = args.work_dir / "profiles" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True)
    summary = asyncio.run(_profile(py_spy, out_dir, args.seconds))
    (out_dir / "summary.md").write_text(summary)
    print(summary)
    logger.info("Profiles written to %s", out_dir)
    return 0


async def _profile(py_spy: str, out_dir: Path, seconds: float) -> str:
    gateway = GatewayStack(out_dir / "stack")
    await gateway.start()
    sections = [_command_section(py_spy, seconds)]
    try:
        target = gateway.target()
        pids = gateway.pids()
        for scenario in WARM_UP:
            await run_client(_spec(target, scenario.stream, scenario.concurrency, scenario.requests, 30))
        for load in LOADS:
            logger.info("Profiling %s for %.0f s", load.title, seconds)
            outputs = {name: out_dir / f"{load.key}-{name}.txt" for name in PROFILED}
            recorders = [await _start_py_spy(py_spy, pids[name], outputs[name], seconds) for name in PROFILED]
            # Far more requests than fit in the time, so the load lasts as long as the sampling.
            spec = _spec(target, load.stream, load.concurrency, 1_000_000, seconds)
            result = await run_client(spec)
            for recorder in recorders:
                await recorder.wait()
            sections.append(
                f"## {load.title}\n\n{result.ok:,} requests in {result.elapsed_seconds:.1f} s "
                f"({result.throughput:,.0f}/s) while sampling.\n"
            )
            for name in PROFILED:
                sections.append(_process_section(name, outputs[name]))
    finally:
        await gateway.stop()
    return "\n".join(sections)


def _spec(target, stream: bool, concurrency: int, requests: int, seconds: float) -> LoadSpec:
    return LoadSpec(
        url=target.url,
        headers=target.headers,
        body=request_body(target.model, stream),
        stream=stream,
        concurrency=concurrency,
        requests=requests,
        time_limit=seconds,
    )


async def _start_py_spy(py_spy: str, pid: int, output: Path, seconds: float) -> asyncio.subprocess.Process:
    # --nonblocking reads the process's memory without pausing it, so the
    # profile does not slow the service down; --gil would hide the time
    # spent in C code that released the GIL, so it stays off.
    return await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(SAMPLES_PER_SECOND),
        "--duration",
        str(round(seconds)),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _command_section(py_spy: str, seconds: float) -> str:
    return (
        "# Where the CPU goes\n\n"
        f"Sampled with `py-spy record --pid PID --rate {SAMPLES_PER_SECOND} --duration {round(seconds)} "
        "--format raw --nonblocking` on each process during the load. Self: samples whose innermost Python frame "
        "is the function (time in C code called from it included). Inclusive: samples with the function anywhere "
        "on the stack, leaving out the entry frames found in more than 85% of them. Idle samples (the event loop "
        "waiting in `epoll`) are not recorded.\n"
    )


def _process_section(name: str, path: Path) -> str:
    if not path.exists():
        return f"### {name}\n\npy-spy wrote no profile; is ptrace allowed for this user?\n"
    stacks = _read_collapsed(path)
    total = sum(stacks.values())
    if not total:
        return f"### {name}\n\nNo samples.\n"
    by_package: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks.items():
        leaf = frames[-1]
        by_package[_package(leaf)] += count
        self_time[_function(leaf)] += count
        for function in {_function(frame) for frame in frames}:
            inclusive[function] += count

    lines = [f"### {name}\n", f"{total:,} samples.\n", "| package (self) | share |", "|---|---|"]
    lines += [f"| {package} | {count / total:.1%} |" for package, count in by_package.most_common(12)]
    lines += ["", "| function (self) | share |", "|---|---|"]
    lines += [f"| `{function}` | {count / total:.1%} |" for function, count in self_time.most_common(TOP_FUNCTIONS)]
    # The entry chain (main, the event loop's run) is on nearly every stack, so it carries no information.
    below_entry = [(function, count) for function, count in inclusive.most_common() if count < 0.85 * total]
    lines += ["", "| function (inclusive) | share |", "|---|---|"]
    lines += [f"| `{function}` | {count / total:.1%} |" for function, count in below_entry[:TOP_FUNCTIONS]]
    return "\n".join(lines) + "\n"


def _read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # The first frame is the process and thread, for example `process 123:"python"`.
        frames = tuple(frame for frame in stack.split(";") if _FRAME.match(frame))
        if frames:
            stacks[frames] += int(count)
    return stacks


def _function(frame: str) -> str:
    match = _FRAME.match(frame)
    assert match is not None
    return f"{match['function']} ({match['path']})"


def _package(frame: str) -> str:
    """Return the top-level package of a frame's file; py-spy gives paths relative to their `sys.path` entry."""
    match = _FRAME.match(frame)
    assert match is not None
    top = match["path"].split("/", 1)[0].removesuffix(".py")
    if top in sys.stdlib_module_names:
        return f"{top} (standard library)"
    return top


if __name__ == "__main__":
    sys.exit(main())
