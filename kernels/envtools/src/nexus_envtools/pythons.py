"""uv, and the Python interpreter an environment is made from.

The order a version request is served in:

1. the platform's kernel Python (the interpreter this server env runs on, the version of
   kernels/python-version) when it matches;
2. any Python uv finds without downloading (its managed installations, the PATH);
3. one uv has installed in the person's home before (``~/.local/share/uv/python``, or
   ``$NEXUS_PYTHON_INSTALL_DIR``);
4. a download by ``uv python install`` into that folder, unless ``NEXUS_PYTHON_DOWNLOADS=never``.

When none of them gives the version, the request "cannot be had" and nothing is made.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .layout import BadInput, EnvError

ERROR_LINES = 12  # at most this many lines of a tool's error output in a message


@dataclass(frozen=True)
class Python:
    path: str
    version: str  # X.Y.Z


def find_uv() -> str:
    """The uv binary: $NEXUS_UV, else the one beside this env's python, else the PATH's."""
    override = os.environ.get("NEXUS_UV")
    candidates = [override] if override else []
    candidates.append(str(Path(sys.executable).parent / "uv"))
    found = shutil.which("uv")
    if found:
        candidates.append(found)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise EnvError("uv is not installed in this server environment (set NEXUS_UV to its path)")


# uv's progress lines, which say nothing about a failure
NOISE = ("Using Python ", "Using CPython ", "Creating virtual environment", "Resolved ")


def tail(text: str, lines: int = ERROR_LINES) -> str:
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    kept = [line for line in kept if not line.startswith(NOISE)]
    return "\n".join(kept[-lines:])


def run_uv(
    uv: str, args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [uv, *args], env=full_env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def default_version() -> str:
    """The platform kernels' Python version (the server env runs on the same one)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def matches(request: str, version: str) -> bool:
    want = request.split(".")
    return version.split(".")[: len(want)] == want


def version_of(python: str) -> str:
    proc = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise EnvError(f"cannot run {python}: {tail(proc.stderr)}")
    return proc.stdout.strip()


def platform_python() -> Python:
    """The base interpreter of this env: the one the platform's kernels are made from."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    version = ".".join(str(part) for part in sys.version_info[:3])
    return Python(path=str(base), version=version)


def user_install_dir() -> Path:
    override = os.environ.get("NEXUS_PYTHON_INSTALL_DIR")
    return Path(override) if override else Path.home() / ".local" / "share" / "uv" / "python"


def _find(uv: str, request: str, env: Mapping[str, str], *extra: str) -> str | None:
    proc = run_uv(uv, ["python", "find", "--no-python-downloads", *extra, request], env)
    path = proc.stdout.strip()
    return path if proc.returncode == 0 and path else None


def resolve(uv: str, request: str) -> Python:
    """An interpreter of the requested version, or EnvError saying why it cannot be had."""
    base = platform_python()
    if matches(request, base.version):
        return base
    path = _find(uv, request, {})
    home_env = {"UV_PYTHON_INSTALL_DIR": str(user_install_dir())}
    if path is None:
        path = _find(uv, request, home_env, "--python-preference", "only-managed")
    if path is None:
        if os.environ.get("NEXUS_PYTHON_DOWNLOADS", "").lower() == "never":
            raise EnvError(
                f"Python {request} cannot be had: it is not installed here and downloads are off "
                "(NEXUS_PYTHON_DOWNLOADS=never). Installed: " + installed_versions(uv)
            )
        install = run_uv(
            uv,
            ["python", "install", "--no-bin", "--install-dir", str(user_install_dir()), request],
            {**home_env, "UV_PYTHON_DOWNLOADS": "manual"},
        )
        if install.returncode != 0:
            raise EnvError(
                f"Python {request} cannot be had: it is not installed here and uv could not "
                f"download it:\n{tail(install.stderr)}"
            )
        path = _find(uv, request, home_env, "--python-preference", "only-managed")
        if path is None:
            raise EnvError(f"Python {request} was downloaded but uv cannot find it")
    version = version_of(path)
    if not matches(request, version):
        raise BadInput(f"uv found Python {version} at {path}, not {request}")
    return Python(path=path, version=version)


def installed_versions(uv: str) -> str:
    """The Python versions uv sees here and in the home without downloading, for a message."""
    home_env = {"UV_PYTHON_INSTALL_DIR": str(user_install_dir())}
    versions = {platform_python().version}
    for env in ({}, home_env):
        proc = run_uv(uv, ["python", "list", "--only-installed", "--output-format", "json"], env)
        try:
            found = json.loads(proc.stdout) if proc.returncode == 0 else []
        except ValueError:
            found = []
        versions |= {str(item["version"]) for item in found if isinstance(item, dict)}
    ordered = sorted(versions, key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")])
    return ", ".join(ordered)
