"""CPU time and memory of the processes under test, read with psutil and Linux's /proc."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of `pid`, its live descendants and the children it has reaped.

    A descendant that exits between two readings moves from the live sum to
    its parent's `children_*` times, so a difference of two readings stays
    right as long as the parent reaps it (PostgreSQL's postmaster does).
    """
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        descendants = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in descendants:
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total


@dataclass(frozen=True, slots=True)
class Memory:
    # Highest resident set size of the process since it started (Linux's VmHWM), in bytes.
    peak_rss: int
    rss: int


def memory(pid: int) -> Memory | None:
    """Peak and current resident memory of the largest process in the tree of `pid`."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    readings = [reading for reading in (_status_memory(process.pid) for process in tree) if reading is not None]
    if not readings:
        return None
    return max(readings, key=lambda reading: reading.peak_rss)


def own_memory(pid: int) -> Memory | None:
    """Peak and current resident memory of `pid` alone, without its children."""
    return _status_memory(pid)


def child_running(pid: int, argument: str) -> int | None:
    """Return the pid of a descendant of `pid` whose command line contains `argument`, if one runs."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in descendants:
        try:
            if argument in child.cmdline():
                return child.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _status_memory(pid: int) -> Memory | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            # The kernel writes these as "<number> kB".
            fields[name] = int(value.split()[0]) * 1024
    if "VmHWM" not in fields or "VmRSS" not in fields:
        return None
    return Memory(peak_rss=fields["VmHWM"], rss=fields["VmRSS"])


def system_calls(pid: int) -> int:
    """Read and write system calls (Linux's syscr plus syscw) of `pid` and its live descendants."""
    total = 0
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in tree:
        try:
            counters = process.io_counters()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += counters.read_count + counters.write_count
    return total


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    system_calls: int


class ProcessMeter:
    """CPU seconds and I/O system calls of each named process between `start` and `stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, Usage] = {}

    def start(self) -> None:
        self._before = {name: _usage(pid) for name, pid in self._pids.items()}

    def stop(self) -> dict[str, Usage]:
        usage = {}
        for name, pid in self._pids.items():
            now, before = _usage(pid), self._before[name]
            usage[name] = Usage(now.cpu_seconds - before.cpu_seconds, now.system_calls - before.system_calls)
        return usage


def _usage(pid: int) -> Usage:
    return Usage(cpu_seconds(pid), system_calls(pid))
