"""Spawn-decision latency of the quota service on PostgreSQL, at 1,000 and 100,000 users.

A real `nexus-quota serve --workers 3` (the cores plus one) and a real JupyterHub (for the
hook's token) run on loopback.
100 concurrent clients each send a spawn decision, then stop that server, then think for
`--think` seconds (the hub's hook is not a tight loop: spawns are human-paced). Only the
decision request is timed. A saturation run (no think time) reports throughput as well.

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


async def run_load(
    stack: QuotaStack, users: list[str], clients: int, seconds: float, think: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
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
            rng = random.Random(i)
            await asyncio.sleep(rng.random() * max(think, 0.01))  # spread the starts
            while time.monotonic() < deadline:
                user = rng.choice(users)
                body = {"username": user, "server_name": f"b{i}", "size": "small"}
                start = time.perf_counter()
                status = await post("hub/spawn-decisions", body)
                if status is None:
                    continue
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(f"spawn-decisions: HTTP {status}")
                status = await post("hub/sessions/stop", {"username": user, "server_name": f"b{i}"})
                if status not in (200, None):
                    errors.append(f"sessions/stop: HTTP {status}")
                if think:
                    await asyncio.sleep(think)

        began = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.monotonic() - began
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
    }


def measure(user_count: int, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    databases = DatabaseFactory(tmp)
    try:
        url = databases.new("postgresql")
        t0 = time.monotonic()
        users = seed_users(url, user_count)
        seeded = time.monotonic() - t0
        stack = QuotaStack.start(
            tmp / f"stack-{user_count}", url, env={"NEXUS_QUOTA_WORKERS": str(args.workers)}
        )
        try:
            # Warm up at the measured concurrency, as a long-running service is: token cache,
            # statement caches, and a connection pool grown to what 100 clients keep busy
            # (a connection opened mid-run costs a TLS attempt and a type introspection).
            asyncio.run(run_load(stack, users, args.clients, 3.0, args.think))
            paced = asyncio.run(run_load(stack, users, args.clients, args.seconds, args.think))
            saturated = asyncio.run(run_load(stack, users, args.clients, args.seconds / 2, 0.0))
        finally:
            stack.stop()
    finally:
        databases.cleanup()
    return {
        "users": user_count,
        "seed_seconds": round(seeded, 1),
        "paced": paced,
        "saturated": saturated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=1.0, help="pause between spawns")
    parser.add_argument(
        "--workers",
        type=int,
        default=(os.cpu_count() or 1) + 1,
        help="service processes (default: one more than the cores, so a core never idles "
        "while a worker waits to be scheduled)",
    )
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 100_000])
    args = parser.parse_args()
    workdir = Path(__file__).parent / "results" / "decision_latency_work"
    workdir.mkdir(parents=True, exist_ok=True)
    runs = [measure(n, args, workdir) for n in args.users]
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
