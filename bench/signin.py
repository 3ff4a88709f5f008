"""Sign-in to a running JupyterLab, in Debian's Chromium, against the whole dev platform.

Each run: a fresh browser context opens the hub's login page, signs in through the MyST
stand-in, presses Start on the spawn form (small) and waits until JupyterLab's shell is shown.
The server is then stopped (through the Hub API) before the next run. The target (issue 5) is a
median of at most 15 s over 5 runs. Also reported: the platform's memory at rest (sum of RSS of
every process it started, and their children), before any server runs and with one running.

    .venv/bin/python -m bench.signin --out bench/results/signin.json
"""

from __future__ import annotations

import argparse
import json
import platform as host
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import sync_playwright

from dev.platform import Platform
from tests.e2e.lab import LabSession
from tests.support.browser import launch
from tests.support.platform import RunningPlatform, platform_settings

TARGET_SECONDS = 15.0


def rss_bytes(pids: list[int]) -> int:
    """Sum of RSS over `pids` and all their descendants (each process counted once)."""
    seen: dict[int, int] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                seen[proc.pid] = proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return sum(seen.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/signin.json"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as tmp:
        platform = Platform(platform_settings(Path(tmp) / "state"), quiet=True)
        platform.start()
        nexus = RunningPlatform(platform)
        try:
            time.sleep(5)  # let start-up work settle before measuring memory at rest
            rest = rss_bytes(platform.pids())
            seconds: list[float] = []
            with_server = 0
            with sync_playwright() as pw:
                browser = launch(pw)
                for i in range(args.runs):
                    session = LabSession(browser, nexus, "ellen", Path(tmp))
                    start = time.perf_counter()
                    session.sign_in()
                    if "/hub/spawn" not in session.page.url:
                        session.page.goto(f"{nexus.url}/hub/spawn")
                    session.start_server("small")
                    seconds.append(time.perf_counter() - start)
                    if i == 0:
                        with_server = rss_bytes(platform.pids())
                    session.close()
                    nexus.hub_admin().delete("users/ellen/server").raise_for_status()
                    nexus.wait_no_server("ellen", timeout=90)
                    print(f"run {i + 1}: {seconds[-1]:.2f} s", flush=True)
                browser.close()
        finally:
            nexus.close()

    median = statistics.median(seconds)
    result: dict[str, Any] = {
        "benchmark": "sign-in to a running JupyterLab (login page -> MyST -> Start -> lab shown)",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": psutil.cpu_count(), "python": host.python_version()},
        "runs_seconds": [round(s, 2) for s in seconds],
        "median_seconds": round(median, 2),
        "target_seconds": TARGET_SECONDS,
        "meets_target": median <= TARGET_SECONDS,
        "rss_at_rest_mib": round(rest / 2**20, 1),
        "rss_with_one_server_mib": round(with_server / 2**20, 1),
        "rss_note": "sum of RSS of the platform's processes and their children (OIDC, S3, "
        "quota service, hub, CHP; the idle culler is off in this run); the second figure adds "
        "one small JupyterLab server with no kernel running",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
