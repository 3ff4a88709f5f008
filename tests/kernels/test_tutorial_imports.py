"""Every module each STScI Roman tutorial imports, imported in the kernel that tutorial names.

The module lists come from the tutorials themselves (tests/kernels/data/tutorial_imports.yaml,
made by derive_tutorial_imports.py). One kernel per kernelspec imports them all and reports what
failed, so a failure names the tutorial it breaks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kernels import CAL, RRN, execute_in_kernel
from tests.support.processes import REPO_ROOT

DATA = Path(__file__).parent / "data" / "tutorial_imports.yaml"
TUTORIALS: dict[str, dict[str, Any]] = yaml.safe_load(DATA.read_text())["tutorials"]

# Runs in the kernel: import each module, report failures and the kernel's Python version.
PROBE = """
import importlib, json, os, sys, warnings
warnings.simplefilter("ignore")
failed = {}
for name in %r:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"[:300]
print("RESULT " + json.dumps({"failed": failed, "python": "%%d.%%d" %% sys.version_info[:2]}))
"""


def modules_for(kernel: str) -> dict[str, list[str]]:
    """module -> the tutorials that import it, for tutorials that name `kernel`."""
    wanted: dict[str, list[str]] = {}
    for tutorial, entry in TUTORIALS.items():
        if kernel in entry["kernels"]:
            for module in entry["modules"]:
                wanted.setdefault(module, []).append(tutorial)
    return wanted


def test_data_names_known_kernels_and_every_tutorial_runs_in_research_nexus() -> None:
    assert len(TUTORIALS) >= 30
    for tutorial, entry in TUTORIALS.items():
        assert set(entry["kernels"]) <= {RRN, CAL}, tutorial
        assert RRN in entry["kernels"], tutorial
    # the pipeline and simulation tutorials run in the Calibration kernel too
    for name in ("exposure_pipeline", "mosaic_pipeline", "romanisim"):
        assert any(t.startswith(name + "/") and CAL in e["kernels"] for t, e in TUTORIALS.items())


@pytest.mark.kernels
@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_kernel_imports_what_its_tutorials_import(kernel: str) -> None:
    wanted = modules_for(kernel)
    result = execute_in_kernel(kernel, PROBE % sorted(wanted), timeout=900)
    assert result.error is None, result.traceback
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    report = json.loads(line.removeprefix("RESULT "))
    expected_python = (REPO_ROOT / "kernels" / "python-version").read_text().strip()
    assert report["python"] == expected_python
    broken = {m: (err, wanted[m]) for m, err in report["failed"].items()}
    assert not broken, json.dumps(broken, indent=1)
