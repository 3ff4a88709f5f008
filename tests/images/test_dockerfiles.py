"""The three images: pinned bases, thin wrappers over the install scripts and locks tests use."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT

IMAGES = REPO_ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
EXACT_TAG = re.compile(r"^(?:\w[\w.-]*-)?(\d+\.\d+\.\d+|\d{4}-\d{2}-\d{2})(?:-[\w.-]+)?$")


@dataclass
class Instruction:
    op: str
    args: str


def parse(path: Path) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, args = buf.partition(" ")
        out.append(Instruction(op.upper(), args.strip()))
        buf = ""
    return out


def instructions(name: str, op: str) -> list[str]:
    return [i.args for i in parse(IMAGES / name / "Dockerfile") if i.op == op]


def test_three_images() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["hub", "quota-service", "user"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_base_image_is_pinned(dockerfile: Path) -> None:
    froms = [i.args for i in parse(dockerfile) if i.op == "FROM"]
    assert froms
    for ref in froms:
        image = ref.split()[0]
        name, _, digest = image.partition("@")
        assert ":" in name.rsplit("/", 1)[-1], f"{image}: no tag"
        tag = name.rsplit(":", 1)[1]
        assert EXACT_TAG.match(tag), f"{image}: tag {tag!r} is not an exact version"
        if digest:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_copied_sources_exist(dockerfile: Path) -> None:
    for args in [i.args for i in parse(dockerfile) if i.op == "COPY"]:
        for src in args.split()[:-1]:
            if src.startswith("--"):
                continue
            assert (REPO_ROOT / src).exists(), f"{dockerfile}: COPY {src} is missing"


def test_user_image_uses_the_kernel_install_script_and_locks() -> None:
    runs = " ".join(instructions("user", "RUN"))
    assert instructions("user", "FROM") == ["quay.io/jupyter/base-notebook:python-3.11.9"]
    # the venvs are made from an exact patch of the Python the locks are resolved for
    wanted = (REPO_ROOT / "kernels" / "python-version").read_text().strip()
    installed = re.findall(r"uv python install (\S+)", runs)
    assert installed and all(v.startswith(wanted + ".") for v in installed), installed
    assert re.search(
        r'PYTHON="\$\(uv python find --managed-python ' + re.escape(installed[0]), runs
    )
    for env in ("roman-research-nexus", "roman-calibration", "lab-server"):
        assert re.search(rf"kernels/install\.sh {env} ", runs), env
        assert (REPO_ROOT / "kernels" / env / "requirements.txt").exists()
    assert "notebooks/install-tutorials.sh" in runs
    assert "link-tutorials.sh" in runs
    # make kernels runs the same script (mk/kernels.mk)
    makefile = (REPO_ROOT / "mk" / "kernels.mk").read_text()
    assert "kernels/install.sh $*" in makefile and "kernels/install.sh lab-server" in makefile
    assert "notebooks/install-tutorials.sh" in makefile
    assert any("PATH=/opt/nexus/lab/bin" in e for e in instructions("user", "ENV"))


def test_hub_image_installs_hub_config_without_service_deps() -> None:
    """The lock checks (exact install, dev parity) are in test_hub_lock.py."""
    assert instructions("hub", "FROM") == ["quay.io/jupyterhub/k8s-hub:4.4.0"]
    copies = " ".join(instructions("hub", "COPY"))
    assert "hub_config/" in copies and "quota_service" not in copies
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    hub_deps = " ".join(project["dependencies"] + project["optional-dependencies"]["hub"]).lower()
    assert "fastapi" not in hub_deps and "sqlalchemy" not in hub_deps


def test_quota_service_image_is_non_root_with_entrypoint() -> None:
    users = instructions("quota-service", "USER")
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert instructions("quota-service", "ENTRYPOINT") == ['["nexus-quota"]']
    assert '"/tmp/nexus[service]"' in " ".join(instructions("quota-service", "RUN"))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert "nexus-quota" in project["scripts"]


def test_install_script_rejects_bad_input_clearly(tmp_path: Path) -> None:
    script = REPO_ROOT / "kernels" / "install.sh"
    usage = subprocess.run([str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    unknown = subprocess.run(
        [str(script), "no-such-kernel", str(tmp_path / "venv")], capture_output=True, text=True
    )
    assert unknown.returncode == 2
    assert "no kernels/no-such-kernel/requirements.txt" in unknown.stderr
    assert "roman-research-nexus" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_tutorials_install_read_only(tmp_path: Path) -> None:
    dest = tmp_path / "tutorials"
    script = REPO_ROOT / "notebooks" / "install-tutorials.sh"
    for _ in range(2):  # rerunnable
        subprocess.run([str(script), str(dest)], check=True, capture_output=True)
    notebooks = sorted(p.name for p in dest.glob("*.ipynb"))
    assert notebooks == sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    for nb in dest.glob("*.ipynb"):
        assert stat.S_IMODE(nb.stat().st_mode) == 0o444
    assert not os.access(dest / notebooks[0], os.W_OK) or os.geteuid() == 0
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(
        [str(REPO_ROOT / "notebooks" / "link-tutorials.sh"), str(home)],
        check=True,
        env={"NEXUS_TUTORIALS_DIR": str(dest), "PATH": "/usr/bin:/bin"},
    )
    assert (home / "tutorials").resolve() == dest.resolve()


def test_user_image_can_run_the_tutorials_cronjob() -> None:
    """The chart's tutorials CronJob runs its sync script in the user image by default: that
    image must hold git (base-notebook has none) and the script at the path the chart names."""
    tpl = (REPO_ROOT / "helm/roman-nexus/templates/tutorials/_tutorials.tpl").read_text()
    found = re.search(r'define "nexus\.tutorials\.script" -}}([^{]+){{', tpl)
    assert found, "the chart no longer names the sync script"
    script = Path(found.group(1).strip())
    runs = " ".join(instructions("user", "RUN"))
    assert re.search(r"apt-get install [^&]*\bgit\b", runs), "the user image installs no git"
    copies = [c.split() for c in instructions("user", "COPY")]
    sources = {Path(c[-1]): Path(c[0]) for c in copies if len(c) == 2}
    local = sources.get(script.parent)
    assert local is not None, f"nothing in the user image is copied to {script.parent}"
    assert (REPO_ROOT / local / script.name).is_file()
