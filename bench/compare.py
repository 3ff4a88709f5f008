"""Benchmarks of two commits side by side: BASE and HEAD, each checked out into its own git
worktree, every benchmark run in both trees interleaved (base, head, base, head, ...) so that
both see the same spells of machine load; one table of figures (base, head, head/base).

    make bench-compare                    # BASE=c7aa747, HEAD=the current commit
    .venv/bin/python -m bench.compare --base c7aa747 --head HEAD [--rounds 2] [--only scan,purge]

The trees reuse this checkout's environments (.venv, kernels, lab server, node_modules, Jupyter
data), which is only right where BASE and HEAD have the same inputs for them: the harness refuses
when .venv's or node_modules' differ, and leaves out (with a note) a benchmark whose kernel or
lab server inputs differ, unless --borrow-envs. Each run uses this checkout's Python with the
tree as its working directory and PYTHONPATH, and starts the benchmark through a probe that fails
the run unless bench, dev, hub_config, quota_service and tests are imported from that tree (the
harness checks the probe's report too). The streaming benchmark runs once per tree when nothing
it runs differs between BASE and HEAD (kernels/, its scripts, the data maker). Results:
bench/results/compare.json and the table in docs/benchmarks.md (between its compare markers);
worktrees are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.compare_figures import READERS, Figure
from bench.compare_report import render, write_doc

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "compare.json"
DOC = REPO / "docs" / "benchmarks.md"
# Built, ignored prerequisites a tree borrows from this checkout (symlinks, removed first).
SHARED = (".venv", ".venv-kernels", ".venv-lab", "node_modules", "build/jupyter", "build/tutorials")
# What every tree borrows (.venv, node_modules): must be the same in both commits.
COMMON = ("requirements", "pyproject.toml", "package.json", "package-lock.json")
LAB = ("kernels/lab-server", "kernels/install.sh", "kernels/common")  # .venv-lab
KERNELS = ("kernels", "notebooks/data")  # the kernel venvs, and the data the kernel makes
TIMEOUT = 1800


@dataclass(frozen=True)
class Bench:
    kind: str  # "module" (python -m TARGET) or "path" (python TARGET)
    target: str
    args: tuple[str, ...]
    rounds: int | None = None  # None: --rounds
    # Inputs of the borrowed environments it needs besides COMMON: where they differ between
    # the commits, it is not run (unless --borrow-envs).
    needs: tuple[str, ...] = ()


# Sized so that the whole comparison takes about half an hour on two cores. The spawn and
# sign-in benchmarks run one round per tree: each already alternates or repeats inside, and a
# round of either takes minutes.
BENCHES = {
    "decisions": Bench("module", "bench.decision_latency", ("--seconds", "16", "--rounds", "4")),
    "scan": Bench("module", "bench.storage_scan", ("--files", "50000", "--repeats", "5")),
    "purge": Bench("module", "bench.storage_purge", ("--files", "20000", "--repeats", "2")),
    "spawn": Bench(
        "path",
        "bench/spawn_hook.py",
        ("--spawns", "20", "--warmup", "1", "--out", "bench/results/spawn_hook.json"),
        rounds=1,
        needs=LAB,
    ),
    "signin": Bench(
        "module",
        "bench.signin",
        ("--runs", "3", "--out", "bench/results/signin.json"),
        rounds=1,
        needs=KERNELS,
    ),
    "streaming": Bench(
        "module",
        "bench.streaming",
        ("--repeats", "2", "--data-dir", "{data}"),
        needs=(*KERNELS, "bench/streaming.py", "bench/streaming_reads.py"),
    ),
}

# Runs in the tree: reports where the project's packages come from, refuses to go on when any
# comes from elsewhere, then runs the benchmark as `python -m` / `python script` would.
PROBE = """
import json, os, runpy, sys
tree, kind, target, *args = sys.argv[1:]
import bench, dev, hub_config, quota_service, tests
mods = (bench, dev, hub_config, quota_service, tests)
files = {m.__name__: os.path.realpath(m.__file__) for m in mods}
print("compare-imports " + json.dumps(files), file=sys.stderr, flush=True)
if not all(f.startswith(tree + os.sep) for f in files.values()):
    sys.exit(f"imports outside {tree}: {files}")
sys.argv = [target, *args]
if kind == "module":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    runpy.run_path(target, run_name="__main__")
"""


@dataclass
class Tree:
    side: str  # "base" or "head"
    rev: str
    sha: str
    subject: str
    path: Path


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def same(base: str, head: str, paths: tuple[str, ...]) -> bool:
    return not git("diff", "--stat", base, head, "--", *paths)


def add_tree(side: str, rev: str, workdir: Path) -> Tree:
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = (workdir / f"{side}-{sha[:10]}").resolve()
    remove_tree(path)
    git("worktree", "add", "--detach", str(path), sha)
    for rel in SHARED:
        if (REPO / rel).exists():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).symlink_to(REPO / rel)
    return Tree(side, rev, sha, git("log", "-1", "--format=%s", sha), path)


def remove_tree(path: Path) -> None:
    for rel in SHARED:  # the links first: nothing below may reach the shared environments
        if (path / rel).is_symlink():
            (path / rel).unlink()
    if path.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False
        )
        shutil.rmtree(path, ignore_errors=True)


def run_one(name: str, tree: Tree, round_no: int, workdir: Path) -> dict[str, Any]:
    bench = BENCHES[name]
    args = [a.format(data=workdir / "data") for a in bench.args]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEXUS_TEST_OUTPUT")}
    env.update(PYTHONPATH=str(tree.path), NEXUS_BENCH_DIR=str(workdir / "trees"))
    log = workdir / "logs" / f"{name}-{round_no}-{tree.side}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", PROBE, str(tree.path), bench.kind, bench.target, *args]
    load_before = os.getloadavg()
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            argv, cwd=tree.path, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=TIMEOUT
        )
    run: dict[str, Any] = {
        "bench": name,
        "round": round_no,
        "side": tree.side,
        "seconds": round(time.monotonic() - start, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "log": str(log),
        "ok": proc.returncode == 0,
    }
    imports = next(
        (
            json.loads(line.split(" ", 1)[1])
            for line in log.read_text().splitlines()
            if line.startswith("compare-imports ")
        ),
        None,
    )
    run["imports"] = imports
    inside = imports is not None and all(
        f.startswith(str(tree.path) + os.sep) for f in imports.values()
    )
    if not inside:
        raise SystemExit(f"{name} in {tree.path} did not import its own tree's code: {imports}")
    if run["ok"]:
        run["figures"] = [f.__dict__ for f in READERS[name](tree.path)]
    else:
        run["error"] = f"exit {proc.returncode}; see {log}"
    print(
        f"{name:10s} round {round_no} {tree.side}: {run['seconds']:7.1f} s "
        f"load {run['load_before'][0]:.2f}->{run['load_after'][0]:.2f} "
        f"{'ok' if run['ok'] else run['error']}",
        flush=True,
    )
    return run


def pool(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure: the median over rounds of each side, and head / base."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for f in run.get("figures", []):
            fig = Figure(**f)
            row = rows.setdefault(
                (run["bench"], fig.key),
                {
                    "bench": run["bench"],
                    "figure": fig.label,
                    "unit": fig.unit,
                    "better": fig.better,
                    "base_runs": [],
                    "head_runs": [],
                },
            )
            row[f"{run['side']}_runs"].append(fig.value)
    for row in rows.values():
        for side in ("base", "head"):
            values = row[f"{side}_runs"]
            row[side] = statistics.median(values) if values else None
        base, head = row["base"], row["head"]
        row["ratio"] = round(head / base, 3) if base and head is not None else None
    return list(rows.values())


def plan(
    base: str, head: str, names: list[str], rounds: int, borrow: bool
) -> tuple[dict[str, int], list[str]]:
    """Rounds per benchmark to run (those whose borrowed environments fit both commits, or all
    with `borrow`), and the notes that say what was run how, and what was left out and why."""
    if not same(base, head, COMMON):
        raise SystemExit(
            f"{', '.join(COMMON)} differ between {base[:10]} and {head[:10]}: the trees cannot "
            "share this checkout's .venv and node_modules"
        )
    notes = [
        f"{', '.join(COMMON)} are the same in both commits: both trees ran with this checkout's "
        ".venv and node_modules.",
        "Each figure is the median over its rounds (of two rounds, their mean); "
        "ratio = head / base.",
    ]
    plans: dict[str, int] = {}
    for n in names:
        bench = BENCHES[n]
        differ = [path for path in bench.needs if not same(base, head, (path,))]
        if differ and not borrow:
            notes.append(
                f"Not run: {n}. Its environments' inputs ({', '.join(differ)}) differ between "
                "the commits, and the trees only borrow this checkout's (built for HEAD); "
                "`--borrow-envs` runs it with them anyway."
            )
            continue
        if differ:
            notes.append(
                f"{n} ran in both trees with this checkout's environments although "
                f"{', '.join(differ)} differ (--borrow-envs)."
            )
        plans[n] = bench.rounds or rounds
        if n == "streaming" and not differ:
            plans[n] = 1
            notes.append(
                "Nothing the streaming benchmark runs differs between the commits "
                f"({', '.join(bench.needs)}): it ran once per tree (base, then head)."
            )
    return plans, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="BASE and HEAD's benchmarks side by side.")
    ap.add_argument("--base", default="c7aa747", help="the commit before the change")
    ap.add_argument("--head", default="HEAD", help="the commit after it (default: the current one)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per tree of each benchmark")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated benchmarks")
    ap.add_argument("--workdir", type=Path, default=REPO.parent / "bench-worktrees")
    ap.add_argument(
        "--borrow-envs",
        action="store_true",
        help="run benchmarks whose kernel or lab environments differ between the commits too",
    )
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        ap.error(f"unknown benchmarks {unknown}; known: {', '.join(BENCHES)}")
    command = shlex.join(
        [os.path.relpath(sys.executable, REPO), "-m", "bench.compare", *(argv or sys.argv[1:])]
    )
    base_sha, head_sha = (
        git("rev-parse", "--verify", f"{r}^{{commit}}") for r in (args.base, args.head)
    )
    rounds, notes = plan(base_sha, head_sha, names, args.rounds, args.borrow_envs)
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    trees = [add_tree("base", args.base, args.workdir), add_tree("head", args.head, args.workdir)]
    runs: list[dict[str, Any]] = []
    try:
        for name in rounds:
            for round_no in range(1, rounds[name] + 1):
                for tree in trees:
                    runs.append(run_one(name, tree, round_no, args.workdir))
    finally:
        for tree in trees:
            remove_tree(tree.path)
    options = "; ".join(f"{n} `{' '.join(BENCHES[n].args)}`" for n in rounds)
    notes.append(
        "Rounds per tree: "
        + ", ".join(f"{n} {r}" for n, r in rounds.items())
        + "; benchmark options: "
        + options.replace("{data}", str(args.workdir / "data"))
        + "."
    )
    result = {
        "command": command,
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "uptime_start": uptime_start,
        "uptime_end": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "trees": {t.side: {"rev": t.rev, "sha": t.sha, "subject": t.subject} for t in trees},
        "rounds": rounds,
        "order": "per benchmark and round: base, then head",
        "bench_args": {n: list(BENCHES[n].args) for n in rounds},
        "notes": notes,
        "figures": pool(runs),
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_doc(DOC, render(result))
    print(f"wrote {RESULTS} and {DOC}")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
