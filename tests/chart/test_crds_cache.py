"""The shared CRDS cache (issue 16 item 4): the crds-sync CronJob and the users' read-only mount.

Rendered with crdsCache.enabled and jupyterhub.custom.nexus.crds_subdir (both on by default):
the CronJob writes crdsCache.efsDir on the EFS claim, validates strict, and its rendered command
and environment run here with the Calibration kernel standing in for the image's; the hub mounts
the same folder read-only where the image's CRDS_PATH points.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest

from hub_config import builders
from hub_config.settings import HubSettings
from tests.chart.chartlib import (
    Obj,
    by_kind,
    ci_values,
    containers,
    deep_merge,
    merged_values,
    pod_spec,
    render,
)
from tests.support.kernels import CAL, kernel_python
from tests.support.processes import REPO_ROOT, free_port

pytestmark = pytest.mark.chart

IMAGE_PYTHON = "/opt/nexus/kernels/roman-calibration/bin/python"
SYNTHETIC_CACHE = REPO_ROOT / ".state" / "crds"  # make crds-cache


def values(crds: dict[str, Any] | None = None, subdir: str | None = "crds") -> Obj:
    return deep_merge(
        ci_values("minimal-values.yaml"),
        {
            "crdsCache": {"enabled": True, **(crds or {})},
            "jupyterhub": {"custom": {"nexus": {"crds_subdir": subdir}}},
        },
    )


def crds_cronjob(objects: list[Obj]) -> Obj:
    (cronjob,) = [o for n, o in by_kind(objects, "CronJob").items() if "crds" in n]
    return cronjob


def test_on_by_default_and_off_together() -> None:
    assert crds_cronjob(render(ci_values("minimal-values.yaml")))
    objects = render(values({"enabled": False}, subdir=None))
    assert not [n for n in by_kind(objects, "CronJob") if "crds" in n]
    nexus = merged_values(values({"enabled": False}, subdir=None))["jupyterhub"]["custom"]["nexus"]
    _volumes, mounts = builders.kube_volumes(HubSettings(**nexus), "alice")
    assert not [m for m in mounts if m["mountPath"] == "/crds"]


def test_cronjob_writes_the_folder_user_pods_mount_read_only() -> None:
    objects = render(values())
    cronjob = crds_cronjob(objects)
    for obj in objects:
        if "crds" in obj["metadata"]["name"]:
            kubernetes_validate.validate(obj, "1.34", strict=True)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(cronjob)
    assert spec["automountServiceAccountToken"] is False
    (container,) = containers(spec)
    assert container["command"][:3] == [IMAGE_PYTHON, "-m", "crds.sync"]
    assert "--fetch-references" in container["command"]
    env = {e["name"]: e["value"] for e in container["env"]}
    (efs_mount,) = [m for m in container["volumeMounts"] if m["name"] == "efs"]
    assert efs_mount["subPath"] == "crds" and not efs_mount.get("readOnly")
    assert env["CRDS_PATH"] == efs_mount["mountPath"]
    assert env["CRDS_SERVER_URL"] == "https://roman-crds.stsci.edu"
    (efs,) = [v for v in spec["volumes"] if v["name"] == "efs"]
    claim = efs["persistentVolumeClaim"]["claimName"]

    # The hub mounts that folder of that claim read-only at the image's CRDS_PATH.
    nexus = merged_values(values())["jupyterhub"]["custom"]["nexus"]
    settings = HubSettings(**nexus)
    assert settings.home_pvc_name == claim
    _volumes, mounts = builders.kube_volumes(settings, "alice")
    (mount,) = [m for m in mounts if m["mountPath"] == "/crds"]
    assert mount == {"name": "nexus-efs", "mountPath": "/crds", "subPath": "crds", "readOnly": True}
    dockerfile = (REPO_ROOT / "images" / "user" / "Dockerfile").read_text()
    assert "CRDS_PATH=/crds" in dockerfile


def test_hub_mount_and_cronjob_folder_must_agree() -> None:
    with pytest.raises(helm_python.HelmError, match=r"must equal crdsCache\.efsDir"):
        render(values({"efsDir": "elsewhere"}))
    with pytest.raises(helm_python.HelmError, match="set it to null"):
        render(values({"enabled": False}))
    with pytest.raises(helm_python.HelmError, match="contexts"):
        render(values({"contexts": []}))


@pytest.mark.kernels
def test_rendered_command_runs_on_the_mounted_cache(tmp_path: Path) -> None:
    """The command and environment as rendered, the kernel's python for the image's, the EFS
    folder a copy of the synthetic cache, the server a closed port: crds.sync starts, resolves
    roman-operational from the cache's own rules, and stops only for want of the server."""
    if not (SYNTHETIC_CACHE / "SYNTHETIC.json").exists():
        pytest.fail(f"no synthetic CRDS cache at {SYNTHETIC_CACHE}: run `make crds-cache`")
    (container,) = containers(pod_spec(crds_cronjob(render(values()))))
    efs = tmp_path / "efs-crds"
    shutil.copytree(SYNTHETIC_CACHE, efs)
    closed = f"https://127.0.0.1:{free_port()}"
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = env["CRDS_PATH"]
    env |= {"CRDS_PATH": str(efs), "CRDS_SERVER_URL": closed, "HOME": str(tmp_path)}
    env |= {"CRDS_LOCK_PATH": str(tmp_path), "PATH": os.environ["PATH"]}
    argv = [str(kernel_python(CAL)), *container["command"][1:]]
    assert mount == "/srv/nexus/crds"
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert "Symbolic context 'roman-operational' resolves to 'roman_0001.pmap'" in output, output
    assert f"Failed connecting to CRDS server at CRDS_SERVER_URL = '{closed}'" in output, output
    assert proc.returncode != 0
