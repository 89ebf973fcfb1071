"""Markdown tables of a benchmark run, every number beside its ratio to the direct baseline of the same run."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat_load.client import Percentiles
from chat_load.processes import Memory
from chat_load.runner import Measurement
from chat_load.scenarios import Scenario
from chat_load.targets import GATEWAY_PROCESSES

BASELINE = "direct"
GATEWAY = "gateway"


@dataclass(slots=True)
class Run:
    scenarios: list[Scenario]
    # Target key to label, in table order; the baseline comes first.
    targets: dict[str, str]
    measurements: list[Measurement]
    # Process name to its memory after the last scenario.
    memory: dict[str, Memory]
    machine: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def get(self, scenario: str, target: str) -> Measurement | None:
        for measurement in self.measurements:
            if measurement.scenario == scenario and measurement.target == target:
                return measurement
        return None


def render(run: Run) -> str:
    sections = [
        _machine(run),
        _throughput(run),
        _latency(run),
        _streaming(run),
        _gateway_cpu(run),
        _gateway_system_calls(run),
        _target_cpu(run),
        _memory(run),
        _goals(run),
        _noise(run),
    ]
    if run.notes:
        sections.append("### Notes from this run\n\n" + "\n".join(f"- {note}" for note in run.notes))
    return "\n\n".join(sections) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(run: Run) -> str:
    rows = [[name, value] for name, value in run.machine.items()]
    return "### Machine and versions\n\n" + _table(["", ""], rows)


def _errors(measurement: Measurement) -> str:
    failed = sum(measurement.result.errors.values())
    text = (
        f"{failed}"
        if not failed
        else f"**{failed}** ({', '.join(f'{k}: {v}' for k, v in measurement.result.errors.items())})"
    )
    if measurement.result.stopped_by_time_limit:
        text += f", stopped at the time limit after {measurement.result.sent} requests"
    return text


def _throughput(run: Run) -> str:
    labels = list(run.targets.values())
    rows = []
    for scenario in run.scenarios:
        baseline = run.get(scenario.key, BASELINE)
        row = [scenario.title]
        for key in run.targets:
            measurement = run.get(scenario.key, key)
            if measurement is None:
                row.append("not run")
                continue
            rate = measurement.result.throughput
            cell = f"{rate:,.0f}"
            if key != BASELINE and baseline is not None and baseline.result.throughput:
                cell += f" ({_ratio(rate / baseline.result.throughput)})"
            row.append(cell)
        rows.append(row)
    return (
        "### Throughput\n\nSuccessful requests per second; in brackets, the ratio to the emulator called directly.\n\n"
        + _table(["scenario", *labels], rows)
    )


def _latency(run: Run) -> str:
    rows = []
    for scenario in run.scenarios:
        baseline = run.get(scenario.key, BASELINE)
        for key, label in run.targets.items():
            measurement = run.get(scenario.key, key)
            if measurement is None or measurement.result.latency_ms is None:
                continue
            latency = measurement.result.latency_ms
            added = _added(latency, baseline.result.latency_ms if baseline else None, key)
            rows.append([scenario.title, label, *_percentile_cells(latency), *added, _errors(measurement)])
    header = ["scenario", "target", "p50 ms", "p95 ms", "p99 ms", "added p50", "added p95", "added p99", "errors"]
    return (
        "### Latency\n\nMilliseconds from the moment a request was sent (open loop: due) to the end of its response. "
        "Added: the target's percentile minus the direct call's, in the same run.\n\n" + _table(header, rows)
    )


def _streaming(run: Run) -> str:
    rows = []
    for scenario in run.scenarios:
        if not scenario.stream:
            continue
        baseline = run.get(scenario.key, BASELINE)
        for key, label in run.targets.items():
            measurement = run.get(scenario.key, key)
            if measurement is None or measurement.result.first_chunk_ms is None:
                continue
            first = measurement.result.first_chunk_ms
            added = _added(first, baseline.result.first_chunk_ms if baseline else None, key)
            rate = measurement.result.throughput
            ratio = ""
            if key != BASELINE and baseline is not None and baseline.result.throughput:
                ratio = f" ({_ratio(rate / baseline.result.throughput)})"
            rows.append([scenario.title, label, *_percentile_cells(first), added[0], added[2], f"{rate:,.0f}{ratio}"])
    header = ["scenario", "target", "first chunk p50 ms", "p95 ms", "p99 ms", "added p50", "added p99", "streams/s"]
    return (
        "### Streaming: time to first chunk\n\nMilliseconds from sending the request to the first byte of the "
        "event stream. Total stream times are in the latency table.\n\n" + _table(header, rows)
    )


def _gateway_cpu(run: Run) -> str:
    rows = []
    for scenario in run.scenarios:
        measurement = run.get(scenario.key, GATEWAY)
        if measurement is None:
            continue
        cells = [_ms(measurement.cpu_ms_per_request(name)) for name in GATEWAY_PROCESSES]
        total = _sum_ms(measurement, GATEWAY_PROCESSES)
        rows.append([scenario.title, *cells, f"**{_ms(total)}**", _ms(measurement.cpu_ms_per_request("emulator"))])
    header = ["scenario", *GATEWAY_PROCESSES, "gateway total", "emulator"]
    return (
        "### CPU per request: the gateway's processes\n\nCPU milliseconds (user + system, children included) per "
        "successful request, measured from before the load until accounting has acked every usage event.\n\n"
        + _table(header, rows)
    )


def _gateway_system_calls(run: Run) -> str:
    rows = []
    names = GATEWAY_PROCESSES
    for scenario in run.scenarios:
        measurement = run.get(scenario.key, GATEWAY)
        if measurement is None:
            continue
        cells = [_count(measurement.system_calls_per_request(name)) for name in names]
        rows.append([scenario.title, *cells])
    return (
        "### System calls per request: the gateway's processes\n\nRead- and write-family system calls per "
        "successful request, over the same interval as the CPU time, as Linux counts them in /proc/PID/io "
        "(`syscr` + `syscw`): read, write and their vector forms, which uvloop and Go use on sockets. "
        "send and recv calls are not counted.\n\n" + _table(["scenario", *names], rows)
    )


def _target_cpu(run: Run) -> str:
    rows = []
    for scenario in run.scenarios:
        for key, label in run.targets.items():
            measurement = run.get(scenario.key, key)
            if measurement is None or not measurement.result.ok:
                continue
            own = [name for name in measurement.cpu_seconds if name != "emulator"]
            total = _sum_ms(measurement, own) if own else None
            client = measurement.result.client_cpu_seconds * 1000 / measurement.result.ok
            rows.append(
                [
                    scenario.title,
                    label,
                    _ms(total) if key != BASELINE else "",
                    _ms(measurement.cpu_ms_per_request("emulator")),
                    _ms(client),
                    f"{measurement.other_cpu_seconds / measurement.wall_seconds:.2f}",
                ]
            )
    header = ["scenario", "target", "target CPU ms/req", "emulator ms/req", "client ms/req", "other load (cores)"]
    return (
        "### CPU per request: every target\n\nThe target's own processes (all of ours, NATS and PostgreSQL "
        "included), the emulator behind it and the load generator. Other load: CPU that the rest of the "
        "machine used during the run, in cores out of 2.\n\n" + _table(header, rows)
    )


def _memory(run: Run) -> str:
    rows = [
        [name, f"{memory.peak_rss / 2**20:.0f}", f"{memory.rss / 2**20:.0f}"] for name, memory in run.memory.items()
    ]
    return (
        "### Memory\n\nResident memory in MiB of each service's largest process: its peak since start (VmHWM) and "
        "after the last scenario. Accounting's row is its own process; the ClickHouse engine (chdb) that it runs "
        "as a child process in the local run has a row of its own, as PostgreSQL does.\n\n"
        + _table(["process", "peak MiB", "after MiB"], rows)
    )


@dataclass(frozen=True, slots=True)
class Goal:
    """One of the gateway's speed targets and the value this run measured for it."""

    name: str
    text: str
    value: float | None
    limit: float
    lower_is_better: bool

    def row(self) -> list[str]:
        if self.value is None:
            return [self.name, self.text, "not measured", ""]
        met = self.value <= self.limit if self.lower_is_better else self.value >= self.limit
        verdict = "yes" if met else f"**no** ({self._distance()})"
        return [self.name, self.text, f"{self.value:,.2f}", verdict]

    def _distance(self) -> str:
        assert self.value is not None
        if self.limit == 0:
            return f"{self.value:,.0f} over"
        if self.lower_is_better:
            return f"{self.value / self.limit:.1f}× off"
        if self.value == 0:
            return "nothing measured"
        return f"{self.limit / self.value:.1f}× off"


def _goals(run: Run) -> str:
    goals = [*_latency_goals(run), *_comparison_goals(run), *_memory_goals(run)]
    return "### Against the targets\n\n" + _table(["target", "goal", "measured", "met"], [goal.row() for goal in goals])


def _latency_goals(run: Run) -> list[Goal]:
    c50 = run.get("c50", GATEWAY)
    c1 = run.get("c1", GATEWAY)
    c1_direct = run.get("c1", BASELINE)
    open_loop = run.get("open-300", GATEWAY)
    open_direct = run.get("open-300", BASELINE)
    stream_c1 = run.get("stream-c1", GATEWAY)
    stream_c1_direct = run.get("stream-c1", BASELINE)
    open_errors = float(sum(open_loop.result.errors.values())) if open_loop else None
    return [
        Goal("throughput, concurrency 50", "≥ 2,500 requests/s", c50.result.throughput if c50 else None, 2500, False),
        Goal("added p50, concurrency 1", "≤ 1 ms", _added_value(c1, c1_direct, "p50"), 1.0, True),
        Goal("added p99, concurrency 1", "≤ 3 ms", _added_value(c1, c1_direct, "p99"), 3.0, True),
        Goal("added p99, open loop 300/s", "≤ 5 ms", _added_value(open_loop, open_direct, "p99"), 5.0, True),
        Goal("errors, open loop 300/s", "0", open_errors, 0.0, True),
        Goal(
            "added first chunk p50, streaming c1",
            "≤ 2 ms",
            _added_value(stream_c1, stream_c1_direct, "p50", first_chunk=True),
            2.0,
            True,
        ),
        Goal(
            "gateway CPU ms per request, concurrency 50",
            "≤ 0.5 ms",
            _sum_ms(c50, GATEWAY_PROCESSES) if c50 else None,
            0.5,
            True,
        ),
    ]


def _comparison_goals(run: Run) -> list[Goal]:
    goals = []
    comparisons = (
        ("stream-c10", "litellm", "streams/s at concurrency 10", 10.0),
        ("c50", "portkey", "requests/s at concurrency 50", 2.0),
        ("c50", "litellm", "requests/s at concurrency 50", 20.0),
    )
    for scenario, competitor, measure, factor in comparisons:
        ours = run.get(scenario, GATEWAY)
        theirs = run.get(scenario, competitor)
        if ours is None or theirs is None or not theirs.result.throughput:
            continue
        ratio = ours.result.throughput / theirs.result.throughput
        goals.append(Goal(f"{measure} against {run.targets[competitor]}", f"≥ {factor:.0f}×", ratio, factor, False))
    return goals


def _memory_goals(run: Run) -> list[Goal]:
    goals = []
    for name in GATEWAY_PROCESSES:
        memory = run.memory.get(name)
        # The target is for our services; NATS, PostgreSQL and ClickHouse's engine are not ours.
        if memory is not None and name not in ("nats", "postgres"):
            goals.append(Goal(f"{name} resident memory after", "< 150 MiB", memory.rss / 2**20, 150.0, True))
    return goals


def _noise(run: Run) -> str:
    loads = [m.other_cpu_seconds / m.wall_seconds for m in run.measurements if m.wall_seconds]
    if not loads:
        return ""
    return (
        "### Noise\n\n"
        f"Other processes on the machine used {min(loads):.2f} to {max(loads):.2f} cores "
        f"(median {sorted(loads)[len(loads) // 2]:.2f}) of the 2 during the measurements."
    )


def _percentile_cells(values: Percentiles) -> list[str]:
    return [f"{values.p50:.2f}", f"{values.p95:.2f}", f"{values.p99:.2f}"]


def _added(values: Percentiles, baseline: Percentiles | None, key: str) -> list[str]:
    if key == BASELINE or baseline is None:
        return ["", "", ""]
    return [
        f"{values.p50 - baseline.p50:+.2f}",
        f"{values.p95 - baseline.p95:+.2f}",
        f"{values.p99 - baseline.p99:+.2f}",
    ]


def _added_value(
    measurement: Measurement | None, baseline: Measurement | None, percentile: str, *, first_chunk: bool = False
) -> float | None:
    if measurement is None or baseline is None:
        return None
    ours = measurement.result.first_chunk_ms if first_chunk else measurement.result.latency_ms
    theirs = baseline.result.first_chunk_ms if first_chunk else baseline.result.latency_ms
    if ours is None or theirs is None:
        return None
    return getattr(ours, percentile) - getattr(theirs, percentile)


def _sum_ms(measurement: Measurement, names) -> float | None:
    if not measurement.result.ok:
        return None
    return sum(measurement.cpu_seconds.get(name, 0.0) for name in names) * 1000 / measurement.result.ok


def _ratio(value: float) -> str:
    # Three decimals keep a ratio such as 0.003 from reading as zero.
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3f}×"


def _count(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
