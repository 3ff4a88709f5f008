"""`make dev` and the tests run the configurable-http-proxy version the chart's proxy pod runs.

Rubin saw configurable-http-proxy 4.6.x fail at about 300 users with open websockets; z2jh 4.4.0
runs 5.x. package.json pins the version of the rendered proxy image, and npm installs exactly it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.chart.chartlib import CI_FILES, containers, pod_spec, render_ci_file
from tests.support.processes import REPO_ROOT

CHP_IMAGE = "quay.io/jupyterhub/configurable-http-proxy"
NODE_MODULES = REPO_ROOT / "node_modules"


def chart_proxy_tag(values_file: Path) -> str:
    """The tag of the proxy container's image in the whole chart rendered with `values_file`."""
    objects = render_ci_file(values_file)
    images = [
        c["image"]
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("proxy")
        for c in containers(pod_spec(o))
        if c["name"] == "chp"
    ]
    assert len(images) == 1, f"{values_file.name}: proxy images {images}"
    name, _, tag = str(images[0]).rpartition(":")
    assert name == CHP_IMAGE, images[0]
    return tag


def npm_pin() -> str:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    version: str = package["dependencies"]["configurable-http-proxy"]
    assert version[0].isdigit(), f"package.json: {version!r} is a range, not one version"
    return version


@pytest.mark.chart
@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_package_json_pins_the_charts_proxy_version(values_file: Path) -> None:
    assert npm_pin() == chart_proxy_tag(values_file)


def test_package_lock_resolves_the_pin() -> None:
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    packages = lock["packages"]
    assert packages[""]["dependencies"]["configurable-http-proxy"] == npm_pin()
    assert packages["node_modules/configurable-http-proxy"]["version"] == npm_pin()


def test_installed_proxy_is_the_pinned_version() -> None:
    """What `make chp` (npm ci) installed, asked from the binary the hub starts."""
    binary = NODE_MODULES / ".bin" / "configurable-http-proxy"
    assert binary.exists(), f"{binary} is missing: run `make chp`"
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == npm_pin()
