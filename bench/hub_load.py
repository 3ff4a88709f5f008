"""Hold the users: the real hub, proxy and quota service with N simulated people.

One run starts, on loopback:
- the OIDC stand-in (tests/support/oidc.py) with the benchmark's accounts;
- the quota service (`nexus-quota serve`) on a fresh PostgreSQL database (127.0.0.1:5432);
- JupyterHub from hub_config (its MyST login, the quota hook, SimpleLocalProcessSpawner) with
  the configurable-http-proxy of node_modules (5.2.0, the chart's); the spawner starts
  `bench/light_singleuser.py` (a benchmark stand-in, see its docstring) per person.

People arrive in three steps, to `--steps` (100, 200, 300) in all. Each step has a ramp (the
newcomers sign in and spawn, `--arrivals` at a time) and a hold of `--hold` seconds during which
everyone polls and keeps two websockets open, and `--churn` of the people present leave (close
the websockets, stop the server) and come back (sign in, spawn) — see bench/hub_load_sim.py.
Per step: sign-in and spawn throughput and latency, hub/proxy/quota CPU seconds and peak RSS,
p50/p95/p99 of hub pages, the hub's API and the servers' API through the proxy, websocket
failures and drops, failed spawns, and the quota decision latency (the hook's own timing in the
hub's log, and the quota service's /metrics histogram of its spawn-decisions route), and the
hub's own request times from its log (without the proxy and this simulator).

First, `--baseline-steps` (100) run the same way on a hub with the values before tuning put
back (BASELINE_CONFIG), then the tuned hub (hub_config as committed) runs `--steps`: the JSON's
`variants.baseline` and `variants.tuned`, one after the other in one run.

    make bench-hub-load    # bench/results/hub_load.json, docs/performance.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.hub_load_sim import Person, Recorder  # noqa: E402
from bench.hub_load_stats import (  # noqa: E402
    ProcessSampler,
    decision_histogram,
    hook_times,
    log_size,
    machine_facts,
    step_report,
)
from tests.hub_config.stack import NexusStack  # noqa: E402
from tests.support.databases import DatabaseFactory  # noqa: E402
from tests.support.oidc import OidcUser, start_oidc  # noqa: E402
from tests.support.processes import TEST_OUTPUT  # noqa: E402

LIGHT_SERVER = REPO / "bench" / "light_singleuser.py"
RESULTS = REPO / "bench" / "results" / "hub_load.json"
GROUPS = ["myst-users"]
# The values before tuning, put back on top of hub_config for the baseline hub: httpx's default
# keep-alive in the quota client, JupyterHub's default spawn limit and activity resolution.
BASELINE_CONFIG = """
import hub_config.quota_client as _quota_client
_quota_client.KEEPALIVE_SECONDS = 5.0
c.JupyterHub.concurrent_spawn_limit = 100
c.JupyterHub.activity_resolution = 30
"""


def hub_env(activity_interval: int) -> dict[str, str]:
    cmd = [sys.executable, str(LIGHT_SERVER), f"--activity-interval={activity_interval}"]
    return {
        "NEXUS_SINGLEUSER_CMD": json.dumps(cmd),
        "NEXUS_QUOTA_TIMEOUT_SECONDS": "5",  # the production default, not the tests' 3
    }


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def live(person: Person, stop: asyncio.Event) -> None:
    """Poll while present, until the run stops."""
    n = 0
    await wait_or_stop(stop, random.uniform(0, person.poll))
    while not stop.is_set():
        if person.present:
            n += 1
            await person.poll_once(n)
        await wait_or_stop(stop, person.poll * random.uniform(0.8, 1.2))


async def churn(people: list[Person], share: float, hold: float, stop: asyncio.Event) -> None:
    """`share` of the people present leave at random times in the hold and come back."""
    present = [p for p in people if p.present]
    leavers = random.sample(present, int(len(present) * share))

    async def round_trip(person: Person) -> None:
        await wait_or_stop(stop, random.uniform(0, hold * 0.4))
        if stop.is_set():
            return
        await person.leave()
        await wait_or_stop(stop, random.uniform(5, 15))
        if not stop.is_set():
            await person.arrive()
            person.rec.event("came_back")

    await asyncio.gather(*(round_trip(p) for p in leavers))


async def loop_lag(rec: Recorder, stop: asyncio.Event) -> None:
    """How late this simulator's event loop wakes up (its own CPU starvation), every 0.2 s:
    client-side latencies include it."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.2)
        rec.sample("loop_lag", time.perf_counter() - t0 - 0.2)


async def run_steps(
    stack: NexusStack, args: argparse.Namespace, issuer: str, targets: list[int]
) -> dict[str, Any]:
    rec = Recorder()
    people: list[Person] = []
    lives: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    sampler = ProcessSampler.for_stack(stack)
    sampler_task = asyncio.create_task(sampler.run(stop))
    lag_task = asyncio.create_task(loop_lag(rec, stop))
    hook_log = stack.hub.proc.log_path
    steps = []
    try:
        for target in targets:
            newcomers = [
                Person(f"load{i:03d}", stack.hub.url, issuer, rec, args.poll)
                for i in range(len(people), target)
            ]
            gate = asyncio.Semaphore(args.arrivals)

            async def arrive(person: Person, gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    await person.arrive()

            t0 = time.monotonic()
            cpu0, hook0, off0 = sampler.mark(), len(hook_times(hook_log)), log_size(hook_log)
            hist0 = decision_histogram(stack)
            await asyncio.wait_for(
                asyncio.gather(*(arrive(p) for p in newcomers)), args.ramp_timeout
            )
            t1 = time.monotonic()
            people += newcomers
            lives += [asyncio.create_task(live(p, stop)) for p in newcomers]
            cpu1, off1 = sampler.mark(), log_size(hook_log)
            print(f"step {target}: ramp {t1 - t0:.1f} s", flush=True)
            hold_stop = asyncio.Event()
            churner = asyncio.create_task(churn(people, args.churn, args.hold, hold_stop))
            await asyncio.sleep(args.hold)
            hold_stop.set()
            await asyncio.wait_for(churner, 120)
            t2 = time.monotonic()
            cpu2, off2 = sampler.mark(), log_size(hook_log)
            hooks = hook_times(hook_log)[hook0:]
            hist = decision_histogram(stack, since=hist0)
            report = step_report(
                target,
                rec,
                (t0, t1, t2),
                (cpu0, cpu1, cpu2),
                sampler,
                hooks,
                hist,
                (hook_log, off0, off1, off2),
            )
            report["present_at_end"] = sum(p.present for p in people)
            steps.append(report)
            print(json.dumps(report["summary"]), flush=True)
    finally:
        stop.set()
        await asyncio.gather(*lives, return_exceptions=True)
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await sampler_task
        await lag_task
    return {"steps": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--hold", type=float, default=120.0, help="seconds held per step")
    parser.add_argument("--poll", type=float, default=10.0, help="JupyterLab's poll, seconds")
    parser.add_argument("--arrivals", type=int, default=20, help="people arriving at once")
    parser.add_argument("--churn", type=float, default=0.1, help="share who leave and return")
    parser.add_argument("--activity-interval", type=int, default=60, help="servers' reports, s")
    parser.add_argument("--ramp-timeout", type=float, default=900.0)
    parser.add_argument(
        "--baseline-steps",
        type=int,
        nargs="*",
        default=[100],
        help="first, the same steps on a hub with the untuned values (BASELINE_CONFIG); none: skip",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if sorted(args.steps) != args.steps or args.steps[0] < 1 or args.steps[-1] > 500:
        parser.error("--steps must rise, between 1 and 500 people")
    if not 0 <= args.churn <= 0.5:
        parser.error("--churn must be between 0 and 0.5")

    workdir = TEST_OUTPUT / "bench" / "hub_load"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    most = max([*args.steps, *args.baseline_steps])
    users = [OidcUser(f"load{i:03d}", groups=GROUPS) for i in range(most)]
    oidc_proc, provider = start_oidc(workdir / "oidc.log", users=users)
    databases = DatabaseFactory(workdir)
    before = machine_facts()
    variants = [("baseline", BASELINE_CONFIG, args.baseline_steps), ("tuned", "", args.steps)]
    result: dict[str, Any] = {}
    try:
        for name, config, targets in variants:
            if not targets:
                continue
            print(f"--- {name}: {targets}", flush=True)
            stack = NexusStack.build(
                workdir / name,
                oidc=provider,
                db_url=databases.new("postgresql"),
                hub_env=hub_env(args.activity_interval),
                extra_hub_config=config,
            )
            try:
                result[name] = {
                    "hub_config_added": config,
                    "load_before": machine_facts()["loadavg_1_5_15"],
                    **asyncio.run(run_steps(stack, args, provider.issuer, targets)),
                }
            finally:
                stack.stop()
    finally:
        oidc_proc.stop()
        databases.cleanup()

    result = {
        "benchmark": "hub_load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "before": before,
            "after": machine_facts(),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "variants": result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
