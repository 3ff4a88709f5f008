"""The figures bench/compare.py puts side by side, read from one tree's bench/results files.

Each reader takes a checkout (the worktree a benchmark just ran in) and returns its figures;
the harness pools each figure's values over the rounds. `better` says which way is good.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.storage_trees import median


@dataclass(frozen=True)
class Figure:
    key: str  # stable across runs and trees: what pools a figure's values
    label: str
    unit: str
    better: str  # "lower" or "higher"
    value: float


def _load(tree: Path, name: str) -> Any:
    return json.loads((tree / "bench" / "results" / name).read_text())


def _users(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def decisions(tree: Path) -> list[Figure]:
    out = []
    for run in _load(tree, "decision_latency.json")["runs"]:
        u = _users(int(run["users"]))
        paced, saturated = run["paced"], run["saturated"]
        out += [
            Figure(f"{u}.p50", f"paced p50 at {u} users", "ms", "lower", paced["p50_ms"]),
            Figure(f"{u}.p99", f"paced p99 at {u} users", "ms", "lower", paced["p99_ms"]),
            Figure(
                f"{u}.saturated",
                f"saturated at {u} users",
                "decisions/s",
                "higher",
                saturated["throughput_per_s"],
            ),
        ]
    return out


def scan(tree: Path) -> list[Figure]:
    out = []
    for size in _load(tree, "storage.json")["scan"]["sizes"]:
        n = f"{int(size['files']):,}"
        out += [
            Figure(
                f"{n}.scan",
                f"scan of {n} files (wall)",
                "s",
                "lower",
                size["scan_seconds_median_wall"],
            ),
            Figure(
                f"{n}.du",
                f"du -s of {n} files (reference)",
                "s",
                "lower",
                size["du_seconds_median"],
            ),
            Figure(
                f"{n}.speed",
                f"scan speed vs du at {n} files",
                "x",
                "higher",
                size["speed_vs_du_wall"],
            ),
            Figure(
                f"{n}.rss",
                f"scan peak RSS at {n} files",
                "MiB",
                "lower",
                size["peak_rss_mib_upper_bound"],
            ),
        ]
    return out


def purge(tree: Path) -> list[Figure]:
    p = _load(tree, "storage.json")["purge"]
    n = f"{int(p['files']):,}"
    plans = sorted(r["plan_seconds"] for r in p["rounds"])
    return [
        Figure(
            "execute",
            f"execute of {n} files (wall)",
            "s",
            "lower",
            p["execute_seconds_median_wall"],
        ),
        Figure(
            "find",
            f"find -delete of {n} files (reference)",
            "s",
            "lower",
            p["find_delete_seconds_median"],
        ),
        Figure("speed", "execute speed vs find -delete", "x", "higher", p["speed_vs_find_delete"]),
        Figure("plan", f"plan of {n} files (median)", "s", "lower", median(plans)),
    ]


def spawn(tree: Path) -> list[Figure]:
    s = _load(tree, "spawn_hook.json")
    client = s["client_measured"]
    out = [
        Figure(
            "with", "spawn with the hook (median)", "s", "lower", client["with_hook"]["median_s"]
        ),
        Figure(
            "without",
            "spawn without the hook (median)",
            "s",
            "lower",
            client["without_hook"]["median_s"],
        ),
        Figure("ratio", "with / without", "x", "lower", s["median_ratio"]),
    ]
    if s.get("hook_in_hub"):
        out.append(
            Figure(
                "hook",
                "the hook inside the hub (median)",
                "ms",
                "lower",
                s["hook_in_hub"]["median_ms"],
            )
        )
    return out


def signin(tree: Path) -> list[Figure]:
    s = _load(tree, "signin.json")
    return [
        Figure("median", "sign-in to JupyterLab (median)", "s", "lower", s["median_seconds"]),
        Figure("rss_rest", "platform RSS at rest", "MiB", "lower", s["rss_at_rest_mib"]),
        Figure(
            "rss_server",
            "platform RSS with one server",
            "MiB",
            "lower",
            s["rss_with_one_server_mib"],
        ),
    ]


def streaming(tree: Path) -> list[Figure]:
    out = []
    for row in _load(tree, "streaming.json")["rows"]:
        what = f"{row['read']}, {row['config']}"
        out += [
            Figure(f"{what}.s", what, "s", "lower", row["seconds_median"]),
            Figure(f"{what}.bytes", f"{what}: bytes sent", "bytes", "lower", row["bytes"]),
        ]
    return out


READERS: dict[str, Callable[[Path], list[Figure]]] = {
    "decisions": decisions,
    "scan": scan,
    "purge": purge,
    "spawn": spawn,
    "signin": signin,
    "streaming": streaming,
}
