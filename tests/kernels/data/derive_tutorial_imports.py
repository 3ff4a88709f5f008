"""Derive tutorial_imports.yaml: the third-party modules each STScI Roman tutorial imports.

    python3.13 derive_tutorial_imports.py GIT_DIR > tutorial_imports.yaml

GIT_DIR is a bare clone of spacetelescope/roman_notebooks (the search tool's `fetch` gives one).
Imports are read from every code cell with `ast` (a line regex where a cell is not plain Python,
e.g. IPython help `obj?`), plus the tutorial's own helper modules next to it (which may be git
symlinks into shared/). Standard-library modules and the tutorial's own helpers are left out.
Run with the kernels' Python, so the standard-library list matches theirs.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
import subprocess
import sys

# Tutorials about running the pipeline or the simulator (or their reference files): these run in
# the Roman Calibration kernel too. Every tutorial runs in the Roman Research Nexus kernel.
CALIBRATION_TUTORIALS = {
    "ccs_simulations",
    "crds_reference_files",
    "exposure_pipeline",
    "ground_test_analysis",
    "mosaic_pipeline",
    "romanisim",
    "time_domain_simulations",
}
IMPORT_LINE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True
    ).stdout


def imports_of(source: str) -> set[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {m.group(1) or m.group(2) for m in IMPORT_LINE.finditer(text)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def main(git_dir: str) -> None:
    commit = git(git_dir, "rev-parse", "HEAD").strip()
    files = git(git_dir, "ls-tree", "-r", "--name-only", "HEAD", "notebooks").split()
    print("# Third-party modules each STScI Roman tutorial imports, and the kernels that run it.")
    print("# Derived by derive_tutorial_imports.py from spacetelescope/roman_notebooks")
    print(f"# at {commit}; tests/kernels/test_tutorial_imports.py imports them.")
    print(f"source_commit: {commit}")
    print("tutorials:")
    for path in files:
        if not path.endswith(".ipynb"):
            continue
        folder = path.split("/")[1]
        helpers = {
            p: p.rsplit("/", 1)[1][:-3]
            for p in files
            if p.startswith(f"notebooks/{folder}/") and p.endswith(".py")
        }
        nb = json.loads(git(git_dir, "show", f"HEAD:{path}"))
        modules: set[str] = set()
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                src = cell["source"]
                modules |= imports_of("".join(src) if isinstance(src, list) else src)
        tops = {m.split(".")[0] for m in modules}
        for helper_path, name in helpers.items():
            if name in tops:
                text = git(git_dir, "show", f"HEAD:{helper_path}")
                if text.startswith("../"):  # git symlink: the content is the target's path
                    target = posixpath.join(posixpath.dirname(helper_path), text.strip())
                    text = git(git_dir, "show", f"HEAD:{posixpath.normpath(target)}")
                modules |= imports_of(text)
        own = set(helpers.values())
        third_party = sorted(
            m
            for m in modules
            if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] not in own
        )
        kernels = ["roman-research-nexus"]
        if folder in CALIBRATION_TUTORIALS:
            kernels.append("roman-calibration")
        print(f"  {path.removeprefix('notebooks/')}:")
        print(f"    kernels: [{', '.join(kernels)}]")
        print(f"    modules: [{', '.join(third_party)}]")


if __name__ == "__main__":
    main(sys.argv[1])
