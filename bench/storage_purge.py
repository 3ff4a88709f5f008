"""Benchmark: executing a purge of N files against `find -delete` on an identical tree.

    .venv/bin/python -m bench.storage_purge [--files 100000] [--users 10] [--repeats 3]

Each repeat builds two identical trees (N old files), then, alternating which goes first:
`find ROOT -type f -delete` on one, and on the other the real pipeline: the planner writes a
manifest per user (untimed, reported apart), then the executor re-checks and unlinks every file
with its journal, users' manifests in parallel as the purge job runs them (`execute_many`, one
process per CPU; timed, in its own process, wall clock). Results go to
bench/results/storage.json (key "purge").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.storage_trees import BENCH_DIR, REPO, build_tree, median, save, stamp

MODULE = "bench.storage_purge"


def plan_all(homes: Path, out: Path) -> tuple[list[Path], float]:
    from quota_service.filesystem.manifest import SCRATCH_RETENTION, ManifestWriter, new_run_id
    from quota_service.filesystem.planner import Decision, plan_root, root_header

    start = time.perf_counter()
    # The files' ctime is their creation (just now): plan as of 60 days later so all are old.
    now = time.time_ns() + 60 * 86_400 * 1_000_000_000
    manifests = []
    for user in sorted(os.listdir(homes)):
        d = Decision(user, "scratch", SCRATCH_RETENTION, retention_days=30)
        header = root_header(d, os.fsencode(homes / user), new_run_id(now), now, 0)
        w = ManifestWriter(out / f"{user}.manifest.jsonl", header)
        plan_root(d, w, now)
        manifests.append(w.close())
    return manifests, time.perf_counter() - start


def execute_worker(manifests: list[str]) -> None:
    """What `nexus-quota purge execute --yes` runs for deletion manifests: `execute_many`."""
    from quota_service.filesystem.executor import ExecResult, execute_many

    start = time.perf_counter()
    results = execute_many([Path(m) for m in manifests], dry_run=False)
    seconds = time.perf_counter() - start
    done = sum(r.done for r in results if isinstance(r, ExecResult))
    print(json.dumps({"seconds": seconds, "done": done}))


def one_round(users: int, files: int, order: int) -> dict[str, Any]:
    a = build_tree(BENCH_DIR / "purge-a", users, files, reuse=False) / "homes"
    b = build_tree(BENCH_DIR / "purge-b", users, files, reuse=False) / "homes"
    mdir = BENCH_DIR / "purge-manifests"
    shutil.rmtree(mdir, ignore_errors=True)
    mdir.mkdir(parents=True)
    manifests, plan_seconds = plan_all(b, mdir)
    subprocess.run(["sync"], check=False)

    def run_find() -> float:
        t = time.perf_counter()
        subprocess.run(["find", os.fspath(a), "-type", "f", "-delete"], check=True)
        return time.perf_counter() - t

    def run_exec() -> tuple[float, dict[str, Any]]:
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", MODULE, "--worker", *map(os.fspath, manifests)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.fspath(REPO)},
            cwd=REPO,
        )
        return time.perf_counter() - t, json.loads(out.stdout)

    if order % 2 == 0:
        find_s = run_find()
        exec_s, info = run_exec()
    else:
        exec_s, info = run_exec()
        find_s = run_find()
    left = sum(1 for _ in b.rglob("*.dat"))
    return {
        "find_seconds": find_s,
        "execute_seconds_wall": exec_s,
        "execute_seconds_inside": info["seconds"],
        "deleted": info["done"],
        "left_behind": left,
        "plan_seconds": plan_seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        execute_worker(args.worker)
        return
    rounds = [one_round(args.users, args.files, i) for i in range(args.repeats)]
    find_m = median([r["find_seconds"] for r in rounds])
    exec_m = median([r["execute_seconds_wall"] for r in rounds])
    result = {
        **stamp(),
        "files": args.files,
        "users": args.users,
        "find_delete_seconds_median": round(find_m, 4),
        "execute_seconds_median_wall": round(exec_m, 4),
        "speed_vs_find_delete": round(find_m / exec_m, 3),
        "rounds": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rounds
        ],
        "target_speed_vs_find_delete_at_least": 0.5,
        "met": find_m / exec_m >= 0.5 and all(r["left_behind"] == 0 for r in rounds),
    }
    save("purge", result)


if __name__ == "__main__":
    main()
