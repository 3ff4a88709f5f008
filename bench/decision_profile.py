"""Where a spawn decision's CPU goes: the service's code at `--base` and at this checkout,
side by side in one run, on one PostgreSQL database and one real hub (its tokens).

For each code (`--base` first, then this checkout, `--repeats` times alternating) one
service process (bench/decision_serve.py: the app under uvicorn, as `nexus-quota serve
--workers 1` runs it) takes 100 clients sending decisions and stops with no pause:
1. unprofiled: its CPU time (/proc) divided by the decisions = CPU ms per decision (a
   decision and its stop);
2. under pyinstrument: the samples by category (bench/decision_serve.py's CATEGORIES), and
   the SQL statements per request, counted at the engine.

    make profile-decisions   # writes bench/results/decision_profile.json (+ .txt profiles)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.decision_latency import run_load, seed_users
from bench.load_meter import process_cpu_seconds, uptime
from dev.envs import quota_env
from quota_service import db
from tests.support.databases import DatabaseFactory
from tests.support.processes import REPO_ROOT
from tests.support.quota import QuotaStack

RESULTS = Path(__file__).parent / "results" / "decision_profile.json"
WORK = Path(__file__).parent / "results" / "decision_profile_work"


def export(rev: str, dest: Path) -> Path:
    """The quota service's package at `rev`, unpacked into `dest` (git archive)."""
    if not (dest / "quota_service").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        data = subprocess.run(
            ["git", "archive", rev, "quota_service"], cwd=REPO_ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def serve(code: Path, stack: QuotaStack, out: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **quota_env(
            db_url=stack.db_url,
            hub_api_url=stack.hub.api_url,
            token=stack.secrets["quota_service_token"],
        ),
        db.LOOP_GUARD_ENV: "0",
    }
    args = ["--code", str(code), "--port", str(stack.quota_port), "--out", str(out)]
    log = (out.parent / f"{out.stem}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.decision_serve", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{stack.quota_url}api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the service from {code} did not start: see {log.name}")


def profile_one(
    label: str, code: Path, stack: QuotaStack, users: list[str], args: argparse.Namespace, n: int
) -> dict[str, Any]:
    out = WORK / f"{label.split()[0]}-{n}.json"
    out.unlink(missing_ok=True)
    proc = serve(code, stack, out)
    try:
        asyncio.run(run_load(stack, users, args.clients, 3.0, 0.0))  # warm up
        before = process_cpu_seconds([proc.pid])
        t0 = time.monotonic()
        load = asyncio.run(run_load(stack, users, args.clients, args.seconds, 0.0))
        wall = time.monotonic() - t0
        cpu = process_cpu_seconds([proc.pid]) - before
        decisions = len(load.latencies)
        proc.send_signal(signal.SIGUSR1)
        profiled = asyncio.run(run_load(stack, users, args.clients, args.seconds, 0.0))
        proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        profile = json.loads(out.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    busy = {k: v for k, v in profile["by_category_s"].items() if not k.startswith("idle")}
    busy_total = sum(busy.values())
    decided = max(len(profiled.latencies), 1)
    cpu_ms = 1000 * cpu / max(decisions, 1)
    requests = profile["requests"]
    return {
        "code": label,
        "uptime_before": args.uptime_now,
        "decisions": decisions,
        "errors": len(load.errors) + len(profiled.errors),
        "decisions_per_s": round(decisions / wall, 1),
        "cpu_ms_per_decision": round(cpu_ms, 2),
        "summary": load.summary(),
        # Each category's share of the busy samples, scaled to the unprofiled CPU per decision.
        "cpu_ms_by_category": {
            k: round(cpu_ms * v / busy_total, 2)
            for k, v in sorted(busy.items(), key=lambda i: -i[1])
        },
        "profiled_busy_ms_per_decision": round(1000 * busy_total / decided, 2),
        "statements_per_request": {
            path: round(count / max(requests.get(path, 0), 1), 2)
            for path, count in sorted(profile["statements"].items())
        },
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    rev = (
        subprocess.run(
            ["git", "rev-parse", "--short", args.base],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .strip()
    )
    WORK.mkdir(parents=True, exist_ok=True)
    codes = {f"base {rev}": export(rev, WORK / f"base-{rev}"), "head": REPO_ROOT}
    databases = DatabaseFactory(WORK)
    stack = None
    results = []
    try:
        url = databases.new("postgresql")
        users = seed_users(url, args.users)
        stack = QuotaStack.build(WORK / "stack", db_url=url, quota=False)
        for n in range(args.repeats):
            for i, (label, code) in enumerate(codes.items()):
                args.uptime_now = uptime()
                tag = "base" if i == 0 else "head"
                results.append(profile_one(label, code, stack, users, args, n))
                print(json.dumps(results[-1], indent=2), f"({tag})", flush=True)
    finally:
        if stack is not None:
            stack.stop()
        databases.cleanup()
    result = {
        "benchmark": "spawn decision CPU profile, PostgreSQL, one service process, saturated",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clients": args.clients,
        "users": args.users,
        "seconds": args.seconds,
        "runs": results,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
