"""What the quota spawner hook adds to spawn time, measured on real local spawns.

Two real hubs run side by side from the same hub_config (SimpleLocalProcessSpawner, the lab
server environment of `make hub-singleuser`):
- *with hook*: the real quota service over HTTP; the hook asks for a decision, applies the
  plan (limits, env, home/scratch/tutorials), and the post-stop hook closes the session;
- *without hook*: the same configuration with `pre_spawn_hook`/`post_stop_hook` unset.
Spawns alternate between the two hubs (so drift in machine load hits both alike). A spawn is
timed from the REST API request until the hub reports the server ready; the hub's own
"took N seconds to start" figure is recorded too. Target: median(with) <= 1.05 x
median(without), at least 20 spawns each.

    .venv/bin/python bench/spawn_hook.py --spawns 40 --out bench/results/spawn_hook.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hub_config.stack import NexusStack, start_stack  # noqa: E402
from tests.support.oidc import OidcProvider  # noqa: E402
from tests.support.processes import TEST_OUTPUT  # noqa: E402

USER = "bench"
# Users are made through the REST API, without a MyST login (so without auth_state): both
# hubs skip refreshing MyST tokens (before a spawn, and on the servers' activity reports).
BENCH_CONFIG = """
c.GenericOAuthenticator.refresh_pre_spawn = False
c.GenericOAuthenticator.auth_refresh_age = 0
"""
NO_HOOK = (
    BENCH_CONFIG
    + """
c.Spawner.pre_spawn_hook = None
c.Spawner.post_stop_hook = None
"""
)
# No login happens in the benchmark: explicit (unused) OIDC endpoints, no discovery.
OIDC_ENV = {
    "NEXUS_OIDC_AUTHORIZE_URL": "http://127.0.0.1:9/authorize",
    "NEXUS_OIDC_TOKEN_URL": "http://127.0.0.1:9/token",
    "NEXUS_OIDC_USERINFO_URL": "http://127.0.0.1:9/userinfo",
}
TOOK = re.compile(r"User (\S+) took ([0-9.]+) seconds to start")
HOOK_MS = re.compile(r"quota spawn hook for (\S+)/'' took ([0-9.]+) ms")


def spawn_once(stack: NexusStack, timeout: float = 180) -> float:
    hub = stack.hub_admin()
    t0 = time.perf_counter()
    resp = hub.post(f"users/{USER}/server", json={"profile": "small"})
    if resp.status_code not in (201, 202):
        raise RuntimeError(f"spawn failed: {resp.status_code} {resp.text}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = stack.server(USER)
        if server and server.get("ready"):
            elapsed = time.perf_counter() - t0
            stack.stop_server(USER)
            return elapsed
        time.sleep(0.05)
    raise RuntimeError(f"server not ready in {timeout}s:\n{stack.hub.proc.tail()}")


def hub_took(stack: NexusStack) -> list[float]:
    return [float(m.group(2)) for m in TOOK.finditer(stack.hub.log()) if m.group(1) == USER]


def hook_ms(stack: NexusStack) -> list[float]:
    return [float(m.group(2)) for m in HOOK_MS.finditer(stack.hub.log()) if m.group(1) == USER]


def summary(samples: list[float], unit: str = "s") -> dict[str, float]:
    return {
        "n": len(samples),
        f"median_{unit}": statistics.median(samples),
        f"mean_{unit}": statistics.fmean(samples),
        f"min_{unit}": min(samples),
        f"max_{unit}": max(samples),
        f"stdev_{unit}": statistics.stdev(samples) if len(samples) > 1 else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spawns", type=int, default=40, help="spawns per hub (>= 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed spawns per hub first")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/spawn_hook.json")
    args = parser.parse_args()
    if args.spawns < 20:
        parser.error("the target is stated for at least 20 spawns each")

    workdir = TEST_OUTPUT / "bench" / "spawn_hook"
    shutil.rmtree(workdir, ignore_errors=True)
    dummy = OidcProvider(issuer="http://127.0.0.1:9")
    with_hook = start_stack(workdir / "with", dummy, env=OIDC_ENV, extra_config=BENCH_CONFIG)
    without = start_stack(
        workdir / "without", dummy, env=OIDC_ENV, quota=False, extra_config=NO_HOOK
    )
    try:
        for stack in (with_hook, without):
            stack.hub_admin().post(f"users/{USER}").raise_for_status()
        for _ in range(args.warmup):
            spawn_once(with_hook)
            spawn_once(without)
        timed: dict[str, list[float]] = {"with_hook": [], "without_hook": []}
        warm = {"with_hook": len(hub_took(with_hook)), "without_hook": len(hub_took(without))}
        for i in range(args.spawns):
            order = [("with_hook", with_hook), ("without_hook", without)]
            if i % 2:
                order.reverse()
            for name, stack in order:
                timed[name].append(spawn_once(stack))
                print(f"{i + 1:3d} {name:13s} {timed[name][-1]:.3f} s", flush=True)
        sessions_closed = not with_hook.open_sessions()
        hook_times = hook_ms(with_hook)[args.warmup :]
        took = {
            "with_hook": hub_took(with_hook)[warm["with_hook"] :],
            "without_hook": hub_took(without)[warm["without_hook"] :],
        }
    finally:
        with_hook.stop()
        without.stop()

    result: dict[str, Any] = {
        "benchmark": "spawn_hook",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "spawns_per_hub": args.spawns,
        "warmup_per_hub": args.warmup,
        "client_measured": {k: summary(v) for k, v in timed.items()},
        "hub_measured": {k: summary(v) for k, v in took.items() if v},
        "samples_s": timed,
        "hook_in_hub": summary(hook_times, "ms") if hook_times else None,
        "all_sessions_closed_after_stops": sessions_closed,
    }
    ratio = (
        result["client_measured"]["with_hook"]["median_s"]
        / result["client_measured"]["without_hook"]["median_s"]
    )
    result["median_ratio"] = ratio
    result["overhead_percent"] = (ratio - 1) * 100
    result["target_percent"] = 5.0
    result["meets_target"] = ratio <= 1.05
    if hook_times:
        # The hook's own time as a share of the median spawn without it: the same question
        # without the single-user server's start-up noise.
        hook_share = statistics.median(hook_times) / 1000 / statistics.median(timed["without_hook"])
        result["hook_share_percent"] = hook_share * 100
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    keys = ("median_ratio", "overhead_percent", "meets_target", "hook_share_percent")
    print(json.dumps({k: result.get(k) for k in keys}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
