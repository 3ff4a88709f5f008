"""The repository's own tooling: a make target for every benchmark, documented by `make help`;
pre-commit running the same ruff and mypy as `make test`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MAKEFILES = [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]
TARGET = re.compile(r"^([A-Za-z0-9_-]+):(?!=)(.*)$")


def documented_recipes() -> dict[str, str]:
    """Each target `make help` lists (a ``## `` comment on its line) with its recipe's text."""
    recipes: dict[str, str] = {}
    for path in MAKEFILES:
        current: str | None = None
        for line in path.read_text().splitlines():
            match = TARGET.match(line)
            if match:
                current = match[1] if "## " in match[2] else None
                if current:
                    recipes[current] = ""
            elif current and line.startswith("\t"):
                recipes[current] += line + "\n"
            elif not line.startswith("\t"):
                current = None
    return recipes


def test_every_bench_script_has_a_documented_make_target() -> None:
    recipes = "".join(documented_recipes().values())
    scripts = [
        p.stem
        for p in sorted((REPO / "bench").glob("*.py"))
        if 'if __name__ == "__main__":' in p.read_text()
    ]
    assert "storage_scan" in scripts and "streaming_reads" in scripts

    def named_in(text: str, script: str) -> bool:
        return f"bench.{script}" in text or f"{script}.py" in text

    # A script another benchmark starts as its child process (the light single-user server, the
    # profiled service) is run by that benchmark's target.
    covered = {s for s in scripts if named_in(recipes, s)}
    for _ in scripts:
        for s in scripts:
            parents = [c for c in covered if c != s]
            if any(named_in((REPO / "bench" / f"{c}.py").read_text(), s) for c in parents):
                covered.add(s)
    missing = [s for s in scripts if s not in covered]
    assert not missing, f"bench/ scripts no documented make target runs: {missing}"


def make_commands(target: str) -> list[str]:
    """The commands of one Makefile target's recipe, with `$(VENV)` as the checkout's `.venv`."""
    recipe = documented_recipes()[target]
    return [line.strip().replace("$(VENV)", ".venv") for line in recipe.splitlines()]


def pinned(package: str) -> str:
    lock = (REPO / "requirements" / "dev.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", lock, re.MULTILINE)
    assert match, f"requirements/dev.txt pins no {package}"
    return match[1]


def test_pre_commit_runs_make_tests_ruff_and_mypy_from_the_venv() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"])
    assert all(h["language"] == "system" and h["pass_filenames"] is False for h in hooks)
    entries = [h["entry"] for h in hooks]
    assert entries == make_commands("lint") + make_commands("typecheck")
    assert {e.split()[0] for e in entries} == {".venv/bin/ruff", ".venv/bin/mypy"}


def test_the_venv_runs_the_pinned_ruff_and_mypy() -> None:
    """The hooks' tools are the versions requirements/dev.txt pins (what `make venv` installs)."""
    for tool in ("ruff", "mypy"):
        out = subprocess.run(
            [str(REPO / ".venv" / "bin" / tool), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.split()[:2] == [tool, pinned(tool)], out
