"""jupyter-collaboration in the lab server environment (kernels/lab-server): pinned in the
.in, hash-locked, installed in .venv-lab at the pinned version, its server extension enabled,
and the switch the hub turns (YDocExtension.disable_rtc, hub_config/collab.py) is a real
trait of the installed version."""

from __future__ import annotations

import re
import subprocess

import pytest

from hub_config.collab import RTC_OFF, RTC_ON
from tests.support.processes import REPO_ROOT

LAB = REPO_ROOT / "kernels" / "lab-server"
LAB_PYTHON = REPO_ROOT / ".venv-lab" / "bin" / "python"


def _pin(text: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)}==([^\s\\]+)", text, re.MULTILINE)
    assert found, f"{name} is not pinned"
    return found.group(1)


def test_jupyter_collaboration_is_pinned_and_hash_locked() -> None:
    wanted = _pin((LAB / "requirements.in").read_text(), "jupyter-collaboration")
    lock = (LAB / "requirements.txt").read_text()
    assert _pin(lock, "jupyter-collaboration") == wanted
    block = lock.split("jupyter-collaboration==", 1)[1].split("\n    # via", 1)[0]
    assert "--hash=sha256:" in block
    # The lab stays on JupyterLab 4 and the hub's JupyterHub 5.5 (sharing fixed in 5.5.1).
    assert _pin(lock, "jupyterlab").startswith("4.")
    major, minor, patch = (int(p) for p in _pin(lock, "jupyterhub").split(".")[:3])
    assert (major, minor) == (5, 5) and patch >= 1


@pytest.mark.kernels
def test_the_lab_env_has_it_with_the_switch_the_hub_uses() -> None:
    if not LAB_PYTHON.exists():
        pytest.fail(f"{LAB_PYTHON} is missing: run `make kernels`")
    wanted = _pin((LAB / "requirements.in").read_text(), "jupyter-collaboration")
    code = (
        "import importlib.metadata as md\n"
        "from jupyter_server_ydoc.app import YDocExtension\n"
        "print(md.version('jupyter-collaboration'))\n"
        "print(YDocExtension.class_traits()['disable_rtc'].default_value)\n"
    )
    proc = subprocess.run([str(LAB_PYTHON), "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    version, default = proc.stdout.split()
    assert version == wanted
    assert default == "False"  # on unless the hub passes RTC_OFF
    assert RTC_OFF == "--YDocExtension.disable_rtc=True"
    assert RTC_ON == "--YDocExtension.disable_rtc=False"
    listed = subprocess.run(
        [str(REPO_ROOT / ".venv-lab" / "bin" / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
    )
    assert re.search(r"jupyter_server_ydoc\s+\S*enabled", listed.stdout + listed.stderr)
