"""Figures of `bench/hub_load.py`: process CPU and memory, percentiles, the quota service's
decision latency (its /metrics histogram and the hub hook's own timing), machine facts."""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.hub_load_sim import Recorder
from tests.hub_config.stack import NexusStack

HOOK_MS = re.compile(r"quota spawn hook for \S+/'' took ([0-9.]+) ms")
DECISION_ROUTE = "spawn-decisions"
MIB = 1024 * 1024


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float | int]:
    """n, p50/p95/p99 (nearest rank) and max, in ms by default."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * scale

    return {
        "n": len(ordered),
        "p50": round(rank(0.50), 2),
        "p95": round(rank(0.95), 2),
        "p99": round(rank(0.99), 2),
        "max": round(ordered[-1] * scale, 2),
    }


@dataclass
class ProcessSampler:
    """CPU seconds (user + system) and RSS of the hub, the proxy, the quota service, this
    simulator, and all light single-user servers together, sampled every `every` seconds."""

    procs: dict[str, psutil.Process]
    hub: psutil.Process
    every: float = 1.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    @classmethod
    def for_stack(cls, stack: NexusStack) -> ProcessSampler:
        hub = psutil.Process(stack.hub.proc.pid)
        procs = {"hub": hub, "simulator": psutil.Process(os.getpid())}
        if stack.quota is not None and stack.quota.pid is not None:
            procs["quota"] = psutil.Process(stack.quota.pid)
        for child in hub.children(recursive=True):
            if "configurable-http-proxy" in " ".join(child.cmdline()):
                procs["proxy"] = child
        if "proxy" not in procs:
            raise RuntimeError("no configurable-http-proxy under the hub")
        return cls(procs, hub)

    def servers(self) -> list[psutil.Process]:
        found = []
        for child in self.hub.children():
            try:
                if "light_singleuser.py" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        return found

    def mark(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            t = proc.cpu_times()
            out[name] = t.user + t.system
        return out

    def sample(self) -> dict[str, float]:
        rss = {name: proc.memory_info().rss / MIB for name, proc in self.procs.items()}
        total, count = 0.0, 0
        for server in self.servers():
            try:
                total += server.memory_info().rss / MIB
                count += 1
            except psutil.Error:
                pass
        rss["servers_total"] = total
        rss["servers_running"] = count
        return rss

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.sample()))
            except psutil.Error:
                pass
            try:
                await asyncio.wait_for(stop.wait(), self.every)
            except TimeoutError:
                pass

    def peaks(self, start: float, end: float) -> dict[str, float]:
        window = [s for t, s in self.samples if start <= t <= end]
        keys = window[0].keys() if window else []
        return {k: round(max(s[k] for s in window), 1) for k in keys}


REQUEST_LINE = re.compile(r"\] (\d{3}) (GET|POST|DELETE|PUT|PATCH) (\S+) \(.*\) ([0-9.]+)ms$", re.M)


def log_size(log: Path) -> int:
    return log.stat().st_size


def hub_side(log: Path, start: int, end: int) -> dict[str, Any]:
    """The hub's own time per request (its log's "... 12.3ms" lines between two offsets): hub
    pages and the hub's API, without the proxy and the simulator."""
    with log.open("rb") as f:
        f.seek(start)
        text = f.read(end - start).decode(errors="replace")
    times: dict[str, list[float]] = {"hub_api": [], "hub_page": []}
    for m in REQUEST_LINE.finditer(text):
        path = m.group(3)
        if path.startswith("/hub/api/"):
            times["hub_api"].append(float(m.group(4)) / 1000)
        elif path.startswith("/hub/") and not path.startswith("/hub/static/"):
            times["hub_page"].append(float(m.group(4)) / 1000)
    return {f"{k}_ms": percentiles(v) for k, v in times.items()}


def hook_times(log: Path) -> list[float]:
    """The hub hook's own time per spawn (ms), from the hub's log, in order."""
    return [float(m.group(1)) for m in HOOK_MS.finditer(log.read_text(errors="replace"))]


def decision_histogram(
    stack: NexusStack, since: dict[str, float] | None = None
) -> dict[str, float]:
    """Cumulative bucket counts of the spawn-decision route (minus `since`)."""
    text = httpx.get(stack.quota_url + "metrics", timeout=30).text
    buckets: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "nexus_quota_request_seconds":
            continue
        for s in family.samples:
            if s.name.endswith("_bucket") and DECISION_ROUTE in s.labels.get("route", ""):
                le = s.labels["le"]
                buckets[le] = buckets.get(le, 0.0) + s.value
    if since:
        buckets = {k: v - since.get(k, 0.0) for k, v in buckets.items()}
    return buckets


def histogram_percentiles(buckets: dict[str, float]) -> dict[str, Any]:
    """Upper bucket bounds (ms) holding the 50th/95th/99th percentile."""
    ordered = sorted(((float(le), n) for le, n in buckets.items()), key=lambda x: x[0])
    total = ordered[-1][1] if ordered else 0
    out: dict[str, Any] = {"n": int(total)}
    for q in (0.50, 0.95, 0.99):
        bound = next((le for le, n in ordered if total and n >= q * total), None)
        out[f"p{int(q * 100)}_at_most"] = None if bound is None else bound * 1000
    return out


def machine_facts() -> dict[str, Any]:
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "loadavg_1_5_15": [float(x) for x in load],
        "cpu_model": model,
        "mem_total_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "mem_available_gib": round(psutil.virtual_memory().available / 1024**3, 1),
    }


def count(events: dict[str, Any], *kinds: str) -> int:
    return sum(events.get(k, {}).get("count", 0) for k in kinds)


def step_report(
    people: int,
    rec: Recorder,
    times: tuple[float, float, float],
    cpu: tuple[dict[str, float], dict[str, float], dict[str, float]],
    sampler: ProcessSampler,
    hooks: list[float],
    hist: dict[str, float],
    hub_log: tuple[Path, int, int, int],
) -> dict[str, Any]:
    t0, t1, t2 = times
    ramp_s, ramp_ev = rec.window(t0, t1)
    hold_s, _ = rec.window(t1, t2)
    all_s, all_ev = rec.window(t0, t2)
    arrived = count(ramp_ev, "arrived")
    kinds = ("hub_page", "hub_api", "server_api", "ws_echo", "loop_lag")
    log, off0, off1, off2 = hub_log
    ws_failures = ("ws_dropped", "ws_open_failed", "ws_timeout", "ws_bad_echo")
    report: dict[str, Any] = {
        "people": people,
        "ramp_seconds": round(t1 - t0, 1),
        "hold_seconds": round(t2 - t1, 1),
        "ramp": {
            "arrived": arrived,
            "signin_per_s": round(len(ramp_s.get("signin", [])) / (t1 - t0), 2),
            "spawn_per_s": round(len(ramp_s.get("spawn", [])) / (t1 - t0), 2),
            "signin_ms": percentiles(ramp_s.get("signin", [])),
            "spawn_ms": percentiles(ramp_s.get("spawn", [])),
            **{f"{k}_ms": percentiles(ramp_s.get(k, [])) for k in kinds},
        },
        "hold": {f"{k}_ms": percentiles(hold_s.get(k, [])) for k in kinds},
        # The same requests as the hub's log times them (no proxy, no simulator).
        "hub_side": {"ramp": hub_side(log, off0, off1), "hold": hub_side(log, off1, off2)},
        "events": all_ev,
        "cpu_seconds": {
            "ramp": {k: round(cpu[1][k] - cpu[0][k], 1) for k in cpu[0]},
            "hold": {k: round(cpu[2][k] - cpu[1][k], 1) for k in cpu[0]},
        },
        "peak_rss_mib": sampler.peaks(t0, t2),
        "quota_decisions": {
            "hook_in_hub_ms": percentiles(hooks, scale=1.0),
            "quota_metrics_histogram_ms": histogram_percentiles(hist),
        },
    }
    hub_api = percentiles(all_s.get("hub_api", []))
    report["summary"] = {
        "people": people,
        "failed_spawns": count(all_ev, "spawn_failed", "signin_failed"),
        "websocket_failures": count(all_ev, *ws_failures),
        "websocket_drops": count(all_ev, "ws_dropped"),
        "hub_api_p95_ms": hub_api.get("p95"),
        "hub_api_p95_hold_ms": report["hold"]["hub_api_ms"].get("p95"),
        "hub_api_p95_hold_hub_side_ms": report["hub_side"]["hold"]["hub_api_ms"].get("p95"),
        "simulator_loop_lag_p95_ms": report["hold"]["loop_lag_ms"].get("p95"),
        "signin_per_s": report["ramp"]["signin_per_s"],
        "spawn_per_s": report["ramp"]["spawn_per_s"],
        "hub_cpu_s": round(cpu[2]["hub"] - cpu[0]["hub"], 1),
        "proxy_cpu_s": round(cpu[2]["proxy"] - cpu[0]["proxy"], 1),
        "hub_peak_rss_mib": report["peak_rss_mib"].get("hub"),
        "proxy_peak_rss_mib": report["peak_rss_mib"].get("proxy"),
    }
    return report
