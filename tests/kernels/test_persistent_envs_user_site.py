"""`~/.local` no longer reaches the locked kernels: a package in the user's site-packages does not
shadow the kernels' own, and `pip install --user` in them is refused. Also: the user image's way of
installing the commands (install.sh lab-server, uv only on PATH)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.kernels import CAL, KERNEL_VENVS, RRN, execute_in_kernel, require_kernel
from tests.support.persistent_envs import (
    KERNEL_PYTHON_VERSION,
    LAB_BIN,
    make_person,
    uv_cache_dir,
)
from tests.support.processes import REPO_ROOT
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.kernels

FAKE_ASTROPY = "__version__ = '0.0-fake'\nraise ImportError('the fake astropy from ~/.local')\n"


def user_site(home: Path) -> Path:
    return home / ".local" / "lib" / f"python{KERNEL_PYTHON_VERSION}" / "site-packages"


def fake_astropy(home: Path) -> Path:
    site = user_site(home)
    (site / "astropy").mkdir(parents=True)
    (site / "astropy" / "__init__.py").write_text(FAKE_ASTROPY)
    return site


@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_user_site_does_not_shadow_the_locked_kernel(kernel: str, tmp_path: Path) -> None:
    require_kernel(kernel)
    home = tmp_path / "home"
    site = fake_astropy(home)
    # The real kernel, started from its kernelspec as JupyterLab starts it, with the person's HOME.
    result = execute_in_kernel(
        kernel,
        "import astropy, site, sys\n"
        "print(astropy.__version__, astropy.__file__)\n"
        "print(site.ENABLE_USER_SITE, any('.local' in p for p in sys.path))\n",
        env={"HOME": str(home)},
    )
    assert result.error is None, result.traceback
    first, second = result.stdout.strip().splitlines()
    version, path = first.split()
    assert version != "0.0-fake"
    assert path.startswith(str(KERNEL_VENVS / kernel) + "/")
    assert second == "False False"
    assert site.exists()  # left as it was: nothing deletes ~/.local


@pytest.mark.parametrize("kernel", [RRN, CAL])
def test_pip_install_user_is_refused_in_the_locked_kernel(kernel: str, tmp_path: Path) -> None:
    py = require_kernel(kernel)
    home = tmp_path / "home"
    home.mkdir()
    wheel = build_wheel(tmp_path, "nexus_hello", "0.1.0", "def greet():\n    return 'hello'\n")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONUSERBASE", "PIP_USER"}}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "--user", "--no-index", "--no-deps", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "User site-packages are not visible in this virtualenv" in proc.stderr
    assert not (home / ".local").exists()


@pytest.mark.slow
def test_personal_environments_do_not_read_user_site_either(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    fake_astropy(person.home)
    made = person.run(LAB_BIN / "kernel-create", "clean")
    assert made.returncode == 0, made.stderr
    ran = person.execute("clean", "import importlib.util as u; print(u.find_spec('astropy'))")
    assert ran["stdout"].strip() == "None"


@pytest.mark.slow
def test_install_script_puts_the_commands_in_a_fresh_lab_env(tmp_path: Path) -> None:
    """As the user image runs it: no UV variable, uv only on PATH (the image's /opt/conda/bin)."""
    uv_dir = tmp_path / "uv-bin"
    uv_dir.mkdir()
    (uv_dir / "uv").symlink_to(REPO_ROOT / ".venv" / "bin" / "uv")
    python = shutil.which(f"python{KERNEL_PYTHON_VERSION}", path=str(LAB_BIN))
    assert python is not None
    base = subprocess.run(
        [python, "-c", "import sys; print(sys._base_executable)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    prefix = tmp_path / "lab"
    env = {k: v for k, v in os.environ.items() if k != "UV"}
    env.update(PATH=f"{uv_dir}:/usr/bin:/bin", PYTHON=base, UV_CACHE_DIR=uv_cache_dir())
    proc = subprocess.run(
        [str(REPO_ROOT / "kernels" / "install.sh"), "lab-server", str(prefix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (prefix / "bin" / "uv").resolve() == (REPO_ROOT / ".venv" / "bin" / "uv").resolve()
    assert os.readlink(prefix / "bin" / "uv") == str(uv_dir / "uv")
    for command in ("kernel-create", "kernel-list", "kernel-delete"):
        assert os.access(prefix / "bin" / command, os.X_OK), command
    home = tmp_path / "home"
    home.mkdir()
    listed = subprocess.run(
        [str(prefix / "bin" / "kernel-list")],
        env={**env, "HOME": str(home), "PATH": f"{prefix / 'bin'}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert "no personal environments" in listed.stdout
    check = subprocess.run(
        [str(uv_dir / "uv"), "pip", "check", "--python", str(prefix / "bin" / "python")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
