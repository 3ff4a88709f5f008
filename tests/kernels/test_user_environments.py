"""Users' own packages and kernels live in their home and survive a server restart."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.kernels import (
    CAL,
    JUPYTER_DATA,
    RRN,
    execute_in_kernel,
    require_kernel,
)
from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.kernels


def build_wheel(folder: Path, name: str, version: str, body: str) -> Path:
    """Write a pure-Python wheel by hand: no build backend, no network."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: nexus-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record_lines = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record_lines.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def home_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONUSERBASE", "PIP_USER"}}
    env["HOME"] = str(home)
    env["JUPYTER_PATH"] = str(JUPYTER_DATA)
    env.pop("JUPYTER_DATA_DIR", None)
    return env


@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_pip_install_user_persists_in_home(kernel: str, tmp_path: Path) -> None:
    py = require_kernel(kernel)
    home = tmp_path / "home"
    home.mkdir()
    wheel = build_wheel(tmp_path, "nexus_hello", "0.1.0", "def greet():\n    return 'hello'\n")
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "--user", "--no-index", "--no-deps", str(wheel)],
        env=home_env(home),
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    version = (REPO_ROOT / "kernels" / "python-version").read_text().strip()
    user_site = home / ".local" / "lib" / f"python{version}" / "site-packages"
    assert (user_site / "nexus_hello" / "__init__.py").exists()

    # A fresh kernel (as after a server restart) started from the kernelspec imports it.
    result = execute_in_kernel(
        kernel,
        "import nexus_hello, numpy\nprint(nexus_hello.greet(), nexus_hello.__file__)\n"
        "print('numpy from', numpy.__file__)\n",
        env={"HOME": str(home)},
    )
    assert result.error is None, result.traceback
    assert f"hello {user_site}" in result.stdout
    # the kernel's own packages still come from the kernel, not from the base interpreter
    assert f"numpy from {REPO_ROOT / '.venv-kernels' / kernel}" in result.stdout


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
