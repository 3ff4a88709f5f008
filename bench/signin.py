"""Sign-in to a running JupyterLab, in Debian's Chromium, against the whole dev platform.

Each run: a fresh browser context opens the hub's login page, signs in through the MyST
stand-in, presses Start on the spawn form (small) and waits until JupyterLab's shell is shown.
The server is then stopped (through the Hub API) before the next run. Target (issue 19): a
median of at most 10 s over 10 runs.

Two platforms run side by side (`make dev`'s, on free ports), and their runs alternate
(before, after, before, ...) so both see the same spells of machine load:
- "after": the platform as this checkout makes it.
- "before": the same platform with this issue's start-up cuts switched off: the lab server from
  a copy of .venv-lab (hard links) without nexus_lazy_iri.pth (the IRI grammar is built at
  import again), without labconfig/page_config.json (the page's build check, which runs yarn
  on the server, is back) and with the PyPI extension manager again; and the hub with
  NEXUS_SPAWNER_READY_POLL_SECONDS=0 (the hub's own jittered back-off alone finds the new
  server).
`--only after` runs the one platform. Each run records the browser's phases, the hub log's
steps (hub, spawn hook and lab server write there), and the lab page's resource timing
(bench/signin_profile.py). Also reported: the platform's memory at rest.

    .venv/bin/python -m bench.signin --out bench/results/signin.json [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import Browser, sync_playwright

from bench.signin_profile import PAGE_TIMING_JS, Phases, log_steps
from dev.platform import Platform
from dev.settings import REPO_ROOT
from tests.e2e.lab import LabSession
from tests.support.browser import launch
from tests.support.platform import RunningPlatform, platform_settings

TARGET_SECONDS = 10.0
LAB_VENV = REPO_ROOT / ".venv-lab"
VARIANTS = ("before", "after")
# What "before" switches off (see the module's docstring); the hub reads it from its environment.
BEFORE_HUB_ENV = {"NEXUS_SPAWNER_READY_POLL_SECONDS": "0"}


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


def baseline_lab_venv(dest: Path) -> Path:
    """.venv-lab as hard links, without the lazy IRI grammar; its entry point runs its python."""
    subprocess.run(["cp", "-al", str(LAB_VENV), str(dest)], check=True)
    site = next((dest / "lib").glob("python3.*/site-packages"))
    for name in ("nexus_lazy_iri.pth", "nexus_lazy_iri.py"):
        (site / name).unlink(missing_ok=True)
    (dest / "etc/jupyter/labconfig/page_config.json").unlink(missing_ok=True)
    # Before, the env's settings sat in jupyter_server_config.d/, where jupyter-server reads only
    # jpserver_extensions: none applied (the PyPI extension manager, which runs yarn, was on).
    (dest / "etc/jupyter/jupyter_server_config.json").unlink(missing_ok=True)
    for script in (dest / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        head = script.read_bytes()[:200]
        if head.startswith(b"#!" + str(LAB_VENV).encode()):
            text = script.read_bytes().replace(str(LAB_VENV).encode(), str(dest).encode(), 1)
            script.unlink()  # break the hard link before writing
            script.write_bytes(text)
            script.chmod(0o755)
    return dest


def start(variant: str, tmp: Path) -> RunningPlatform:
    # No S3 sample data: sign-in does not read it, and making it loads the machine.
    kwargs: dict[str, Any] = {"seed_data": False}
    saved = {k: os.environ.get(k) for k in BEFORE_HUB_ENV}
    if variant == "before":
        kwargs["lab_venv"] = baseline_lab_venv(tmp / "lab-before")
        os.environ.update(BEFORE_HUB_ENV)
    try:
        platform = Platform(platform_settings(tmp / variant, **kwargs), quiet=True)
        platform.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return RunningPlatform(platform)


def one_run(browser: Browser, nexus: RunningPlatform, shots: Path) -> dict[str, Any]:
    log = nexus.settings.log("jupyterhub")
    session = LabSession(browser, nexus, "ellen", shots)
    phases = Phases()
    since = time.time()
    start = time.perf_counter()
    session.sign_in()
    phases.mark("signed_in", start, time.perf_counter())
    if "/hub/spawn" not in session.page.url:
        session.page.goto(f"{nexus.url}/hub/spawn")
    phases.mark("spawn_form", start, time.perf_counter())
    page = session.page
    page.locator('input[type="radio"][name="profile"][value="small"]').check()
    page.get_by_role("button", name="Start").click()
    phases.mark("start_pressed", start, time.perf_counter())
    page.wait_for_url("**/user/ellen/lab**", timeout=180_000, wait_until="commit")
    phases.mark("lab_url", start, time.perf_counter())
    page.locator(".jp-LabShell").wait_for(state="visible", timeout=180_000)
    total = time.perf_counter() - start
    phases.mark("lab_shell", start, time.perf_counter())
    timing = page.evaluate(PAGE_TIMING_JS)
    session.close()
    nexus.hub_admin().delete("users/ellen/server").raise_for_status()
    nexus.wait_no_server("ellen", timeout=90)
    return {
        "seconds": round(total, 2),
        "browser": phases.marks,
        "log": log_steps(log.read_text(errors="replace"), since),
        "lab_page": timing,
        "load_1min": round(os.getloadavg()[0], 2),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = [r["seconds"] for r in runs]
    med = statistics.median(secs)
    return {
        "runs_seconds": secs,
        "median_seconds": round(med, 2),
        "min_seconds": min(secs),
        "max_seconds": max(secs),
        "meets_target": med <= TARGET_SECONDS,
        "median_browser_marks": {
            k: round(statistics.median(r["browser"][k] for r in runs), 2)
            for k in runs[0]["browser"]
        },
        "median_log_steps": {
            k: round(statistics.median(r["log"]["steps"][k] for r in runs), 2)
            for k in runs[0]["log"]["steps"]
            if all(k in r["log"]["steps"] for r in runs)
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per variant")
    parser.add_argument("--only", choices=VARIANTS, help="run one variant alone")
    parser.add_argument("--out", type=Path, default=Path("bench/results/signin.json"))
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    variants = [args.only] if args.only else list(VARIANTS)

    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    rest: dict[str, float] = {}
    uptime_start = Path("/proc/loadavg").read_text().strip()
    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as tmp_name:
        tmp = Path(tmp_name)
        platforms: dict[str, RunningPlatform] = {}
        try:
            for v in variants:
                platforms[v] = start(v, tmp)
            time.sleep(5)  # let start-up work settle before measuring memory at rest
            for v in variants:
                rest[v] = round(rss_bytes(platforms[v].platform.pids()) / 2**20, 1)
            with sync_playwright() as pw:
                browser = launch(pw)
                for i in range(args.runs):
                    for v in variants:
                        r = one_run(browser, platforms[v], tmp)
                        runs[v].append(r)
                        print(f"run {i + 1} {v}: {r['seconds']:.2f} s (load {r['load_1min']})",
                              flush=True)  # fmt: skip
                browser.close()
        finally:
            for p in platforms.values():
                p.close()
            shutil.rmtree(tmp / "lab-before", ignore_errors=True)

    result: dict[str, Any] = {
        "benchmark": "sign-in to a running JupyterLab (login page -> MyST -> Start -> lab shown)",
        "command": "make bench-signin  (.venv/bin/python -m bench.signin --runs "
        f"{args.runs}{' --only ' + args.only if args.only else ''})",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": psutil.cpu_count(), "python": host.python_version()},
        "loadavg_at_start": uptime_start,
        "loadavg_at_end": Path("/proc/loadavg").read_text().strip(),
        "target_seconds": TARGET_SECONDS,
        "order": "runs alternate between the variants: " + ", ".join(variants) + ", ...",
        "rss_at_rest_mib": rest,
        "rss_note": "sum of RSS of each platform's processes and their children (OIDC, S3, "
        "quota service, hub, CHP; the idle culler is off)",
        "variants": {v: {**summary(runs[v]), "runs": runs[v]} for v in variants},
    }
    if len(variants) == 2:
        b, a = (result["variants"][v]["median_seconds"] for v in VARIANTS)
        result["after_over_before"] = round(a / b, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "variants"}, indent=2))
    for v in variants:
        s = result["variants"][v]
        print(v, json.dumps({k: s[k] for k in s if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
