"""Users' own kernels live in their home and survive a server restart (`pip install --user` in
the locked kernels is refused now: tests/kernels/test_persistent_envs_user_site.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kernels import JUPYTER_DATA
from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.kernels


def home_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONUSERBASE", "PIP_USER"}}
    env["HOME"] = str(home)
    env["JUPYTER_PATH"] = str(JUPYTER_DATA)
    env.pop("JUPYTER_DATA_DIR", None)
    return env


def test_user_registers_a_kernel_from_a_venv_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = home_env(home)
    venv = home / "envs" / "my-analysis"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    # ipykernel from PyPI (uv's cache after `make kernels`), as a user would `pip install` it.
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "ipykernel",
        ],
        check=True,
        env=env,
    )
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "ipykernel",
            "install",
            "--user",
            "--name",
            "my-analysis",
            "--display-name",
            "My analysis",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    spec_dir = home / ".local" / "share" / "jupyter" / "kernels" / "my-analysis"
    assert (spec_dir / "kernel.json").exists()

    # What the server sees: its KernelSpecManager, with the user's HOME and the platform's path.
    code = (
        "import json\n"
        "from jupyter_client.kernelspec import KernelSpecManager\n"
        "specs = KernelSpecManager().get_all_specs()\n"
        "print(json.dumps({k: v['spec']['display_name'] for k, v in specs.items()}))\n"
    )
    lab_python = REPO_ROOT / ".venv-lab" / "bin" / "python"
    proc = subprocess.run(
        [str(lab_python), "-c", code], env=env, capture_output=True, text=True, check=True
    )
    names = json.loads(proc.stdout)
    assert names["my-analysis"] == "My analysis"
    assert names["roman-research-nexus"] == "Roman Research Nexus"
    assert names["roman-calibration"] == "Roman Calibration"

    # and the kernel runs, in the user's venv
    from jupyter_client.manager import KernelManager

    old = {k: os.environ.get(k) for k in ("HOME", "JUPYTER_PATH")}
    os.environ.update({"HOME": str(home), "JUPYTER_PATH": str(JUPYTER_DATA)})
    try:
        km = KernelManager(kernel_name="my-analysis")
        km.start_kernel(env=env)
        client = km.client()
        client.start_channels()
        out: list[str] = []
        try:
            client.wait_for_ready(timeout=120)
            client.execute_interactive(
                "import sys; print(sys.prefix)",
                timeout=60,
                output_hook=lambda m: out.append(m["content"].get("text", "")),
            )
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=True)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert str(venv) in "".join(out)
