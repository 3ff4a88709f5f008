"""Benchmark: scan throughput under per-operation latency, by shards and workers per shard.

    .venv/bin/python -m bench.storage_shards [--users 40] [--files 4000] [--delay-ms 1]

EFS answers each metadata operation in milliseconds; a local disk in microseconds, so a local
run says nothing about how the scan scales on EFS. Here the tree is seen through a FUSE
passthrough (bench/fuse_delay.py, Debian's python3-pyfuse3) that answers every LOOKUP, GETATTR,
OPENDIR and READDIR after `--delay-ms`, with the kernel's entry and attribute caches off. Each
configuration runs `shards` real processes at once, each scanning its shard of the homes
(`filesystem.shards`, as an Indexed Job pod does) with the scanner's `workers` processes, and
the wall time of the slowest shard is the run's time. The FUSE server counts the operations,
which gives the operations per file that docs/storage.md's EFS projection uses.

Results: bench/results/storage_shards.json. Needs root (FUSE mount) and `apt-get install fuse3
python3-pyfuse3` (the make target does it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.storage_trees import BENCH_DIR, REPO, build_tree, stamp

RESULTS = REPO / "bench" / "results" / "storage_shards.json"
FUSE_PYTHON = "/usr/bin/python3"  # Debian's, with python3-pyfuse3
# (shards, worker processes per shard, threads per shard): threads > 1 replaces the processes.
CONFIGS = [
    (1, 1, 1),
    (1, 2, 1),
    (1, 4, 1),
    (1, 1, 4),
    (1, 1, 8),
    (1, 1, 16),
    (2, 1, 1),
    (2, 2, 1),
    (2, 1, 8),
    (4, 1, 1),
    (4, 1, 4),
    (8, 1, 1),
]


def shard_worker(root: str, index: int, count: int, workers: int, threads: int = 1) -> None:
    """One shard's scan, as `nexus-quota scan --shard-index/--shard-count` does it."""
    from quota_service.filesystem.scanner import discover_targets, scan_targets
    from quota_service.filesystem.shards import Shard

    shard = Shard(index, count)
    start = time.perf_counter()
    targets = [
        t
        for t in discover_targets(os.fsencode(root), None)
        if shard.holds(os.path.basename(t.path))
    ]
    files = dirs = 0
    for usage in scan_targets(targets, workers=workers, threads=threads):
        files += usage.files
        dirs += usage.dirs
    print(json.dumps({"seconds": time.perf_counter() - start, "files": files, "dirs": dirs}))


class Mount:
    def __init__(self, server: Path, source: Path, mountpoint: Path, delay_ms: float) -> None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        self.mountpoint = mountpoint
        self.proc = subprocess.Popen(
            [
                FUSE_PYTHON,
                str(server),
                str(source),
                str(mountpoint),
                "--delay-ms",
                str(delay_ms),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "mounted" not in line:
            raise SystemExit(
                f"FUSE mount failed: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )

    def close(self) -> int:
        subprocess.run(["fusermount3", "-u", str(self.mountpoint)], check=False)
        _, err = self.proc.communicate(timeout=60)
        m = re.search(r"ops (\d+)", err)
        return int(m.group(1)) if m else -1


def run_config(root: Path, shards: int, workers: int, threads: int = 1) -> dict[str, Any]:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from bench.storage_shards import shard_worker; "
                f"shard_worker({str(root)!r}, {i}, {shards}, {workers}, {threads})",
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for i in range(shards)
    ]
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=3600)
        assert p.returncode == 0, f"shard failed: {out}"
        outs.append(json.loads(out))
    wall = time.perf_counter() - start
    files = sum(o["files"] for o in outs)
    return {
        "shards": shards,
        "workers_per_shard": workers,
        "threads_per_shard": threads,
        "wall_seconds": round(wall, 3),
        "slowest_shard_seconds": round(max(o["seconds"] for o in outs), 3),
        "files": files,
        "dirs": sum(o["dirs"] for o in outs),
        "files_per_second": round(files / wall, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--delay-ms", type=float, default=1.0)
    parser.add_argument(
        "--fuse-server", type=Path, default=REPO / "bench" / "fuse_delay.py", help="the passthrough"
    )
    args = parser.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        raise SystemExit("needs root and /dev/fuse (a FUSE mount)")
    src = build_tree(BENCH_DIR / f"shards-{args.users}-{args.files}", args.users, args.files)
    mnt = BENCH_DIR / "shards-mnt"
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows: list[dict[str, Any]] = []
    # Operations per file: one single-worker pass on its own mount, counted by the server.
    counting = Mount(args.fuse_server, src, mnt, args.delay_ms)
    try:
        single = run_config(mnt / "homes", 1, 1)
    finally:
        ops = counting.close()
    for shards, workers, threads in CONFIGS:
        m = Mount(args.fuse_server, src, mnt, args.delay_ms)
        try:
            row = run_config(mnt / "homes", shards, workers, threads)
        finally:
            m.close()
        row["speedup"] = round(row["files_per_second"] / single["files_per_second"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # The same tree without FUSE: what the machine itself does (no injected latency).
    local = run_config(src / "homes", 1, 1)
    result = {
        **stamp(),
        "command": "make bench-scan-shards  (.venv/bin/python -m bench.storage_shards "
        f"--users {args.users} --files {args.files} --delay-ms {args.delay_ms})",
        "latency_injection": "FUSE passthrough (bench/fuse_delay.py), fixed delay per "
        "LOOKUP/GETATTR/OPENDIR/READDIR/OPEN, kernel entry/attr caches off",
        "delay_ms": args.delay_ms,
        "uptime_before": uptime_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "tree": {"users": args.users, "files": single["files"], "dirs": single["dirs"]},
        "fuse_ops_single_pass": ops,
        "ops_per_file": round(ops / max(single["files"], 1), 3),
        "single": single,
        "runs": rows,
        "no_fuse_single_worker": local,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
