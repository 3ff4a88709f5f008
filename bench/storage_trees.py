"""Synthetic user trees for the storage benchmarks (shared by storage_scan.py and storage_purge.py),
and their results file.

A tree is `users` homes of `files // users` files each, 100 files to a directory, two levels of
directories, one file in ten holding 5,000 bytes (the rest empty), all with times 400 days ago.
Trees are built once and reused while their marker file says they are complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(os.environ.get("NEXUS_BENCH_DIR", REPO / "build" / "bench"))
OLD_NS = time.time_ns() - 400 * 86_400 * 1_000_000_000
RESULTS = REPO / "bench" / "results" / "storage.json"


def build_tree(root: Path, users: int, files: int, *, reuse: bool = True) -> Path:
    marker = root / ".complete"
    if reuse and marker.exists() and marker.read_text() == f"{users} {files}":
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    per_user = files // users
    payload = b"x" * 5000
    for u in range(users):
        home = root / "homes" / f"user{u:03d}"
        for i in range(per_user):
            if i % 100 == 0:
                d = home / f"d{i // 1000:02d}" / f"s{i // 100:03d}"
                d.mkdir(parents=True, exist_ok=True)
                dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            fd = os.open(f"f{i:05d}.dat", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd)
            if i % 10 == 0:
                os.write(fd, payload)
            os.utime(fd, ns=(OLD_NS, OLD_NS))
            os.close(fd)
            if i % 100 == 99 or i == per_user - 1:
                os.close(dfd)
    marker.write_text(f"{users} {files}")
    return root


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def stamp() -> dict[str, Any]:
    """When and on what a result was measured, with the load at its end (the machine is shared)."""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "uname": " ".join(os.uname()),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }


def save(key: str, result: dict[str, Any]) -> None:
    """Store `result` as `key` of bench/results/storage.json (other keys kept); print it."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = result
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(result, indent=2))
