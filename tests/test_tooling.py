"""The repository's own tooling: a make target for every benchmark, documented by `make help`."""

from __future__ import annotations

import re
from pathlib import Path

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
    missing = [s for s in scripts if f"bench.{s}" not in recipes and f"bench/{s}.py" not in recipes]
    assert not missing, f"bench/ scripts no documented make target runs: {missing}"
