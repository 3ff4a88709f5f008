"""Spawn-decision latency of the quota service on PostgreSQL, at 1,000 and 100,000 users.

Per user count, a real `nexus-quota serve --workers 2` (one per core) and a real JupyterHub
(for the hook's token) run on loopback.
100 concurrent clients each send a spawn decision, then stop that server, then think for
`--think` seconds (the hub's hook is not a tight loop: spawns are human-paced). Only the
decision request is timed. A saturation run (no think time) reports throughput as well.

The paced measurement alternates between the user counts in `--rounds` short rounds and pools
each count's latencies. The machine has noisy spells: measured one after the other, the two
counts would each get whatever spell they ran in, and their ratio would measure the spells.

    make bench-decisions   # writes bench/results/decision_latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

from quota_service import db
from quota_service.schema import Allocation, User
from tests.support.databases import DatabaseFactory
from tests.support.quota import QuotaStack

RESULTS = Path(__file__).parent / "results" / "decision_latency.json"


def seed_users(url: str, count: int) -> list[str]:
    engine = db.make_engine(url)
    now = datetime.now(UTC)
    names = [f"user{i:06d}" for i in range(count)]
    with engine.begin() as conn:
        for start in range(0, count, 5000):
            batch = names[start : start + 5000]
            ids = conn.execute(
                insert(User).returning(User.id),
                [{"username": n, "created_at": now, "last_login_at": None} for n in batch],
            ).scalars()
            conn.execute(
                insert(Allocation),
                [
                    {
                        "kind": "personal",
                        "tier": "entry",
                        "status": "active",
                        "label": f"Entry ({n})",
                        "owner_id": uid,
                        "starts_at": now,
                        "ends_at": None,
                        "cpu_hours_used": 0.0,
                        "period_started_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n, uid in zip(batch, ids, strict=True)
                ],
            )
    engine.dispose()
    return names


@dataclass
class Load:
    """What one run of the clients saw: decision latencies (s), errors, and its length (s)."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def add(self, other: Load) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        q = statistics.quantiles(latencies, n=100)
        return {
            "requests": len(latencies),
            "errors": len(self.errors),
            "error_samples": sorted(set(self.errors))[:5],
            "throughput_per_s": round(len(latencies) / self.elapsed, 1),
            "p50_ms": round(q[49] * 1000, 2),
            "p95_ms": round(q[94] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 2),
        }


async def run_load(
    stack: QuotaStack,
    users: list[str],
    clients: int,
    seconds: float,
    think: float,
    seed: int = 0,
) -> Load:
    """`seconds` of load, measured after a ramp of `think` seconds in which the clients start
    (spread over it, as they are at steady state), so every round measures a steady load."""
    load = Load()
    latencies, errors = load.latencies, load.errors
    ramp = max(think, 0.01)
    measured_from = time.monotonic() + ramp
    deadline = measured_from + seconds
    # aiohttp, not httpx: the load generator shares the two cores with the service, and
    # aiohttp spends a third of httpx's CPU per request.
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        base_url=stack.api_url.rstrip("/") + "/",
        headers={"Authorization": f"token {stack.hook_token}"},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
    ) as client:

        async def post(path: str, body: dict[str, str]) -> int | None:
            try:
                async with client.post(path, json=body) as resp:
                    await resp.read()
                    return resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors.append(f"{path}: {type(exc).__name__}: {exc}")
                return None

        async def worker(i: int) -> None:
            rng = random.Random(seed * 100_003 + i)
            await asyncio.sleep(rng.random() * ramp)
            while time.monotonic() < deadline:
                user = rng.choice(users)
                body = {"username": user, "server_name": f"b{i}", "size": "small"}
                in_window = time.monotonic() >= measured_from
                start = time.perf_counter()
                status = await post("hub/spawn-decisions", body)
                if status is None:
                    continue
                if in_window:
                    latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(f"spawn-decisions: HTTP {status}")
                status = await post("hub/sessions/stop", {"username": user, "server_name": f"b{i}"})
                if status not in (200, None):
                    errors.append(f"sessions/stop: HTTP {status}")
                if think:
                    await asyncio.sleep(think)

        await asyncio.gather(*(worker(i) for i in range(clients)))
    load.elapsed = seconds  # the window the timed decisions started in
    return load


@dataclass
class Target:
    """One user count: its database, seeded users and running stack."""

    user_count: int
    users: list[str]
    stack: QuotaStack
    seed_seconds: float
    paced: Load = field(default_factory=Load)


def start_target(
    user_count: int, args: argparse.Namespace, databases: DatabaseFactory, tmp: Path
) -> Target:
    url = databases.new("postgresql")
    t0 = time.monotonic()
    users = seed_users(url, user_count)
    seeded = time.monotonic() - t0
    # The event-loop guard the test stacks turn on is off in production: measure without it.
    env = {"NEXUS_QUOTA_WORKERS": str(args.workers), db.LOOP_GUARD_ENV: "0"}
    stack = QuotaStack.start(tmp / f"stack-{user_count}", url, env=env)
    return Target(user_count, users, stack, round(seeded, 1))


def measure(targets: list[Target], args: argparse.Namespace) -> list[dict[str, object]]:
    for t in targets:
        # Warm up at the measured concurrency, as a long-running service is: token cache,
        # statement caches, and a connection pool grown to what 100 clients keep busy
        # (a connection opened mid-run costs a TLS attempt and a type introspection).
        asyncio.run(run_load(t.stack, t.users, args.clients, 3.0, args.think))
    for round_no in range(args.rounds):
        for t in targets:
            load = run_load(
                t.stack, t.users, args.clients, args.seconds / args.rounds, args.think, round_no
            )
            t.paced.add(asyncio.run(load))
    results = []
    for t in targets:
        saturated = asyncio.run(run_load(t.stack, t.users, args.clients, args.seconds / 2, 0.0))
        results.append(
            {
                "users": t.user_count,
                "seed_seconds": t.seed_seconds,
                "paced": t.paced.summary(),
                "saturated": saturated.summary(),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0, help="paced seconds per user count")
    parser.add_argument("--think", type=float, default=1.0, help="pause between spawns")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="service processes per stack (default: one per core)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="paced rounds per user count, alternating between the counts",
    )
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 100_000])
    args = parser.parse_args()
    workdir = Path(__file__).parent / "results" / "decision_latency_work"
    workdir.mkdir(parents=True, exist_ok=True)
    databases = DatabaseFactory(workdir)
    targets: list[Target] = []
    try:
        for n in args.users:
            targets.append(start_target(n, args, databases, workdir))
        runs = measure(targets, args)
    finally:
        for t in targets:
            t.stack.stop()
        databases.cleanup()
    by_users: dict[int, Any] = {int(r["users"]): r for r in runs}  # type: ignore[call-overload]
    small, large = min(by_users), max(by_users)
    p99_small = by_users[small]["paced"]["p99_ms"]
    p99_large = by_users[large]["paced"]["p99_ms"]
    result = {
        "benchmark": "spawn decision latency, PostgreSQL, real hub tokens",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clients": args.clients,
        "think_seconds": args.think,
        "workers": args.workers,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "runs": runs,
        "targets": {
            "p99_ms_at_most": 25,
            "p99_100k_over_1k_at_most": 1.2,
            "p99_ms": p99_large,
            "p99_100k_over_1k": round(p99_large / p99_small, 3) if p99_small else None,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
