"""Imviz (jdaviz) in the Research Nexus kernel, and its widget front-ends in the lab server env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.kernels import LAB_VENV, RRN, RomanData, execute_in_kernel, kernel_python

pytestmark = pytest.mark.kernels


def labextensions(prefix: Path) -> dict[str, str]:
    """name -> version of every prebuilt JupyterLab extension in an environment."""
    root = prefix / "share" / "jupyter" / "labextensions"
    found = {}
    for package_json in root.glob("**/package.json"):
        if package_json.parent.parent.name == "static" or "node_modules" in package_json.parts:
            continue
        meta = json.loads(package_json.read_text())
        if "jupyterlab" in meta:
            found[meta["name"]] = meta["version"]
    return found


def test_lab_server_carries_the_kernels_widget_front_ends() -> None:
    kernel_side = labextensions(kernel_python(RRN).parents[1])
    server_side = labextensions(LAB_VENV)
    assert "jupyter-vuetify" in kernel_side and "@jupyter-widgets/jupyterlab-manager" in kernel_side
    missing = {k: v for k, v in kernel_side.items() if server_side.get(k) != v}
    assert not missing, f"front-ends missing or at other versions in .venv-lab: {missing}"


@pytest.mark.integration
def test_imviz_loads_a_level2_file_headless(roman_data: RomanData) -> None:
    path = next(f["path"] for f in roman_data.files if f["name"].endswith("_cal.asdf"))
    code = (
        "from jdaviz import Imviz\n"
        "imviz = Imviz()\n"
        f"imviz.load_data({path!r}, data_label='wfi01')\n"
        "dc = imviz.app.data_collection\n"
        "print('layers', len(dc))\n"
        "print('shape', dc[0].shape)\n"
        "print('label', dc[0].label)\n"
        "print('widget', type(imviz.app.state).__name__)\n"
    )
    result = execute_in_kernel(RRN, code, timeout=600)
    assert result.error is None, result.traceback
    assert "shape (512, 512)" in result.stdout
    assert "wfi01" in result.stdout
