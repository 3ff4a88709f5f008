"""What the decision benchmarks measure besides latency: the service's CPU time, the
machine's load, and the one-core load they start themselves.

The load (`BusyCore`) is one child process running a pure-Python busy loop, not pinned to a
core (the scheduler places it, as it would any neighbour), at normal priority, started the
same way in every run and stopped after it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable
from types import TracebackType

import psutil


def process_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants (a uvicorn
    master's workers), living ones only: read before and after a window, on the same tree."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
    return total


def uptime() -> dict[str, float]:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    one, five, fifteen = os.getloadavg()
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "load_15m": round(fifteen, 2)}


def _spin(stop_at: float) -> None:
    x = 0
    while time.monotonic() < stop_at:
        for _ in range(10_000):
            x += 1


class BusyCore:
    """`with BusyCore():` one process keeps one core busy (bounded: at most `limit` s)."""

    def __init__(self, limit: float = 900.0) -> None:
        self.limit = limit
        self.proc: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> BusyCore:
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_spin, args=(time.monotonic() + self.limit,), daemon=True)
        proc.start()
        self.proc = proc
        time.sleep(0.5)  # let it get going before the measured window
        return self

    def cpu_seconds(self) -> float:
        return process_cpu_seconds([self.proc.pid]) if self.proc and self.proc.pid else 0.0

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.join(timeout=10)
