"""A person's server as the lab env runs it, for the kernel-create / kernel-list / kernel-delete
tests: a home of their own, the lab env first on PATH (as in the user image), the real uv, and
jupyter_client in a fresh process to list and start their kernels."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .kernels import JUPYTER_DATA, LAB_VENV
from .processes import REPO_ROOT

LAB_BIN = LAB_VENV / "bin"
SYSTEM_PATH = ["/usr/local/bin", "/usr/bin", "/bin"]
COMMANDS = ("kernel-create", "kernel-list", "kernel-delete")
KERNEL_PYTHON_VERSION = (REPO_ROOT / "kernels" / "python-version").read_text().strip()
# Settings a developer's shell may carry that would point the commands elsewhere.
DROPPED = (
    "JUPYTER_DATA_DIR",
    "JUPYTER_CONFIG_DIR",
    "PYTHONUSERBASE",
    "PIP_USER",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "UV_PYTHON_INSTALL_DIR",
    "UV_PYTHON",
    "NEXUS_KERNELS_DIR",
    "NEXUS_UV",
    "NEXUS_PYTHON_DOWNLOADS",
    "NEXUS_PYTHON_INSTALL_DIR",
)

# Starts a kernel by name the way the server does (its KernelSpecManager, the person's HOME),
# runs one cell, prints what came out as JSON.
KERNEL_RUN = """
import json, sys
from jupyter_client.manager import KernelManager
km = KernelManager(kernel_name=sys.argv[1])
km.start_kernel()
kc = km.client()
kc.start_channels()
out, errors = [], []
def hook(msg):
    content = msg["content"]
    if msg["msg_type"] == "stream":
        out.append(content["text"])
    elif msg["msg_type"] == "error":
        errors.append(content["ename"] + ": " + content["evalue"])
try:
    kc.wait_for_ready(timeout=120)
    reply = kc.execute_interactive(sys.argv[2], timeout=300, output_hook=hook)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print(json.dumps({"stdout": "".join(out), "errors": errors, "status": reply["content"]["status"]}))
"""


@functools.cache
def uv_cache_dir() -> str:
    """The machine's uv cache (packages `make kernels` fetched), shared by every test home."""
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    return subprocess.run(
        [str(uv), "cache", "dir"], capture_output=True, text=True, check=True
    ).stdout.strip()


def require_envtools() -> None:
    missing = [c for c in (*COMMANDS, "uv") if not (LAB_BIN / c).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not in {LAB_BIN}: run `make kernels`")


@dataclass
class Person:
    home: Path
    env: dict[str, str]

    @property
    def kernels(self) -> Path:
        return self.home / ".kernels"

    @property
    def specs(self) -> Path:
        return self.home / ".local" / "share" / "jupyter" / "kernels"

    def run(
        self, *argv: str | Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv],
            env={**self.env, **(env or {})},
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def popen(self, *argv: str | Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(a) for a in argv],
            env=self.env,
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def leftovers(self) -> list[str]:
        """Whatever is in the environments folder (but its lock) and the kernelspec folder."""
        found = []
        if self.kernels.exists():
            found += [p.name for p in self.kernels.iterdir() if p.name != ".lock"]
        if self.specs.exists():
            found += [f"spec:{p.name}" for p in self.specs.iterdir()]
        return sorted(found)

    def kernelspecs(self) -> dict[str, Any]:
        """`jupyter kernelspec list --json` from the lab env: what a fresh server would offer."""
        proc = self.run(LAB_BIN / "jupyter", "kernelspec", "list", "--json")
        assert proc.returncode == 0, proc.stderr
        specs: dict[str, Any] = json.loads(proc.stdout)["kernelspecs"]
        return specs

    def execute(self, kernel_name: str, code: str) -> dict[str, Any]:
        proc = self.run(LAB_BIN / "python", "-c", KERNEL_RUN, kernel_name, code)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result


def make_person(root: Path, extra_path: Sequence[Path | str] = ()) -> Person:
    """A fresh home; PATH = the lab env, then `extra_path`, then the system's (no pyenv shims)."""
    require_envtools()
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(LAB_BIN), *map(str, extra_path), *SYSTEM_PATH]),
        JUPYTER_PATH=str(JUPYTER_DATA),
        UV_CACHE_DIR=uv_cache_dir(),
    )
    return Person(home=home, env=env)
