"""Benchmark: `nexus-quota scan`'s engine against `du -s` on the same trees, and its peak memory.

    .venv/bin/python -m bench.storage_scan [--files 200000] [--users 100] [--repeats 7]

For each tree size (N and 2N files across the same users) the tree is built once, the page cache
is warmed by one untimed pass of each tool, and then `du -s -x` and the scanner run alternately,
`--repeats` times each, each in its own process. The scanner runs as `scan_worker` below: it
discovers the homes and scans them with one worker process per CPU, exactly as the CLI does, and
reports its own peak RSS and its workers' (ru_maxrss). Results go to bench/results/storage.json
(key "scan"); docs/storage.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.storage_trees import BENCH_DIR, REPO, build_tree, median, save, stamp

MODULE = "bench.storage_scan"


def scan_worker(root: str, workers: int) -> None:
    from quota_service.filesystem.scanner import discover_targets, scan_targets

    start = time.perf_counter()
    files = 0
    total = 0
    for usage in scan_targets(discover_targets(os.fsencode(root), None), workers=workers):
        files += usage.files
        total += usage.bytes_allocated
    seconds = time.perf_counter() - start
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "files": files,
                "bytes": total,
                "rss_main": me,
                "rss_worker_max": kids,
                "workers": workers,
            }
        )
    )


def time_du(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["du", "-s", "-x", os.fspath(root)], check=True, capture_output=True)
    return time.perf_counter() - start


def time_scan(root: Path, workers: int) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", MODULE, "--worker", os.fspath(root), "--workers", str(workers)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.fspath(REPO)},
    )
    wall = time.perf_counter() - start
    return wall, json.loads(out.stdout)


def bench_size(users: int, files: int, repeats: int, workers: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    root = build_tree(BENCH_DIR / f"scan-{users}u-{files}f", users, files) / "homes"
    built = time.perf_counter() - t0
    time_du(root)
    time_scan(root, workers)
    du_times: list[float] = []
    scan_wall: list[float] = []
    scan_inner: list[float] = []
    peak = 0
    info: dict[str, Any] = {}
    for _ in range(repeats):
        du_times.append(time_du(root))
        wall, info = time_scan(root, workers)
        scan_wall.append(wall)
        scan_inner.append(info["seconds"])
        peak = max(peak, info["rss_main"] + info["workers"] * info["rss_worker_max"])
    du_m = median(du_times)
    wall_m = median(scan_wall)
    return {
        "users": users,
        "files": info["files"],
        "tree_build_seconds": round(built, 2),
        "du_seconds_median": round(du_m, 4),
        "scan_seconds_median_wall": round(wall_m, 4),
        "scan_seconds_median_inside": round(median(scan_inner), 4),
        "speed_vs_du_wall": round(du_m / wall_m, 3),
        "du_seconds_all": [round(x, 4) for x in du_times],
        "scan_seconds_all_wall": [round(x, 4) for x in scan_wall],
        "peak_rss_bytes_upper_bound": peak,
        "peak_rss_mib_upper_bound": round(peak / 2**20, 1),
        "rss_main_bytes": info["rss_main"],
        "rss_worker_max_bytes": info["rss_worker_max"],
        "workers": workers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        scan_worker(args.worker, args.workers)
        return
    sizes = [
        bench_size(args.users, n, args.repeats, args.workers) for n in (args.files, 2 * args.files)
    ]
    result = {
        **stamp(),
        "method": "median wall time of alternating runs on a warm page cache; scanner wall "
        "includes starting its Python process and workers; peak RSS = main + workers x max worker",
        "sizes": sizes,
        "targets": {
            "speed_vs_du_at_least": 0.7,
            "peak_rss_mib_at_most": 200,
        },
        "met": {
            "speed": all(s["speed_vs_du_wall"] >= 0.7 for s in sizes),
            "memory": all(s["peak_rss_mib_upper_bound"] <= 200 for s in sizes),
            "memory_flat_ratio": round(
                sizes[1]["peak_rss_bytes_upper_bound"] / sizes[0]["peak_rss_bytes_upper_bound"], 3
            ),
        },
    }
    save("scan", result)


if __name__ == "__main__":
    main()
