"""The Roman kernels as `make kernels` builds them: paths, kernelspecs, data and notebook runs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from .processes import REPO_ROOT, TEST_OUTPUT
from .s3 import S3Endpoint

KERNEL_VENVS = REPO_ROOT / ".venv-kernels"
LAB_VENV = REPO_ROOT / ".venv-lab"
JUPYTER_DATA = REPO_ROOT / "build" / "jupyter"
KERNELSPECS = JUPYTER_DATA / "kernels"
NOTEBOOKS = REPO_ROOT / "notebooks"
MAKE_DATA = NOTEBOOKS / "data" / "make_data.py"
RRN = "roman-research-nexus"
CAL = "roman-calibration"
INTERNET_TAG = "internet"


def kernel_python(name: str) -> Path:
    return KERNEL_VENVS / name / "bin" / "python"


def require_kernel(name: str) -> Path:
    """The kernel's python, or fail with what to run (these tests are part of `make test`)."""
    py = kernel_python(name)
    spec = KERNELSPECS / name / "kernel.json"
    if not py.exists() or not spec.exists():
        pytest.fail(f"kernel {name!r} is not built: run `make kernels` ({py}, {spec})")
    return py


def jupyter_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment in which jupyter_client finds the platform's kernelspecs."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = str(JUPYTER_DATA)
    env.update(extra or {})
    return env


def run_in_kernel_python(
    name: str, code: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `code` with the kernel's python and the kernelspec's own environment variables."""
    py = require_kernel(name)
    spec = json.loads((KERNELSPECS / name / "kernel.json").read_text())
    full_env = {**os.environ, **spec.get("env", {}), **(env or {})}
    return subprocess.run(
        [str(py), "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


@dataclass(frozen=True)
class RomanData:
    """Synthetic files uploaded to an S3 endpoint, as `make data` does."""

    endpoint: S3Endpoint
    files: list[dict[str, Any]]

    def uri(self, name_suffix: str) -> str:
        for f in self.files:
            if str(f["name"]).endswith(name_suffix):
                return str(f["uri"])
        raise KeyError(name_suffix)


def make_data(endpoint: S3Endpoint, out_dir: Path, *extra: str) -> RomanData:
    """Run notebooks/data/make_data.py (the `make data` entry point) against `endpoint`."""
    py = require_kernel(RRN)
    manifest = out_dir / "manifest.json"
    proc = subprocess.run(
        [
            str(py),
            str(MAKE_DATA),
            "--endpoint",
            endpoint.url,
            "--out",
            str(out_dir),
            "--manifest",
            str(manifest),
            *extra,
        ],
        env={**os.environ, **endpoint.env()},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"make_data.py failed:\n{proc.stdout}\n{proc.stderr}")
    return RomanData(endpoint=endpoint, files=json.loads(manifest.read_text()))


@pytest.fixture(scope="session")
def roman_data(s3_server: S3Endpoint) -> Iterator[RomanData]:
    """Small synthetic Roman files on the session's moto server, under the tutorials' keys."""
    yield make_data(s3_server, TEST_OUTPUT / "data")


def strip_internet_cells(nb: Any) -> list[int]:
    """Replace cells tagged `internet` by a note; return their indices."""
    skipped = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and INTERNET_TAG in cell.metadata.get("tags", []):
            cell.source = 'print("skipped: this cell needs the internet")'
            skipped.append(i)
    return skipped


@dataclass
class NotebookRun:
    nb: Any
    skipped: list[int]

    def text(self) -> str:
        """All text output of the run (stdout, results, errors).

        A kernel may flush one print as several stream messages; consecutive stream
        outputs of one cell are joined as JupyterLab shows them, without a separator.
        """
        parts: list[str] = []
        for cell in self.nb.cells:
            previous_stream = None
            for out in cell.get("outputs", []):
                stream = out.get("name") if out.get("output_type") == "stream" else None
                if stream is not None and stream == previous_stream:
                    parts[-1] += out.get("text", "")
                elif stream is not None:
                    parts.append(out.get("text", ""))
                elif out.get("output_type") in {"execute_result", "display_data"}:
                    parts.append(out.get("data", {}).get("text/plain", ""))
                elif out.get("output_type") == "error":
                    parts.append(f"{out.get('ename')}: {out.get('evalue')}")
                previous_stream = stream
        return "\n".join(parts)

    def has_image(self) -> bool:
        return any(
            "image/png" in out.get("data", {})
            for cell in self.nb.cells
            for out in cell.get("outputs", [])
        )


def run_notebook(path: Path, env: Mapping[str, str], home: Path, timeout: int = 600) -> NotebookRun:
    """Execute a notebook top to bottom in its own kernelspec, offline cells only."""
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    # Offline by default; NEXUS_NOTEBOOKS_ONLINE=1 runs the `internet` cells too.
    online = os.environ.get("NEXUS_NOTEBOOKS_ONLINE") == "1"
    skipped = [] if online else strip_internet_cells(nb)
    kernel_name = nb.metadata["kernelspec"]["name"]
    require_kernel(kernel_name)
    home.mkdir(parents=True, exist_ok=True)
    kernel_env = jupyter_env({**env, "HOME": str(home)})
    old_path = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(JUPYTER_DATA)
    try:
        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout=timeout,
            resources={"metadata": {"path": str(home)}},
        )
        client.execute(env=kernel_env)
    finally:
        if old_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old_path
    return NotebookRun(nb=nb, skipped=skipped)


@dataclass
class KernelResult:
    stdout: str
    error: tuple[str, str] | None  # (ename, evalue)
    traceback: str


def execute_in_kernel(
    name: str, code: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> KernelResult:
    """Start the kernel from its kernelspec (as JupyterLab does), run `code`, collect output."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    require_kernel(name)
    ksm = KernelSpecManager(kernel_dirs=[str(KERNELSPECS)])
    km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
    km.start_kernel(env={**os.environ, **(env or {})})
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        stdout: list[str] = []
        error: list[tuple[str, str, str]] = []

        def on_output(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                error.append((content["ename"], content["evalue"], "\n".join(content["traceback"])))

        client.execute_interactive(code, timeout=timeout, output_hook=on_output)
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    if error:
        ename, evalue, tb = error[0]
        return KernelResult("".join(stdout), (ename, evalue), tb)
    return KernelResult("".join(stdout), None, "")
