"""One hub-side lock: requirements/hub.txt, installed by the hub image, carried by dev.txt.

z2jh 4.4.0's hub image runs JupyterHub 5.5.0; 5.5.1 fixed a sharing vulnerability, so the project
builds its own hub image from a lock that starts from z2jh's frozen versions (docs/images.md).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.images.test_dockerfiles import instructions
from tests.support.processes import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"
HUB_LOCK = REQUIREMENTS / "hub.txt"
HUB_CONSTRAINTS = REQUIREMENTS / "hub-constraints.txt"
DEV_LOCK = REQUIREMENTS / "dev.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
SERVICE_STACK = {"fastapi", "uvicorn", "psycopg", "asyncpg", "aiosqlite", "python-multipart"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` requirement line."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def requirement_blocks(text: str) -> dict[str, str]:
    """name -> the requirement with its continuation lines (where the hashes are)."""
    blocks: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            current = canonical(match.group(1))
            blocks[current] = line
        elif current and line.startswith("    --hash="):
            blocks[current] += "\n" + line
        elif not line.startswith("    "):
            current = ""
    return blocks


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3])


def z2jh_reference_dir() -> Path | None:
    configured = os.environ.get("NEXUS_Z2JH_REFERENCE")
    if configured:
        return Path(configured)
    beside = REPO_ROOT.parent / "shared" / "reference" / "z2jh-4.4.0"
    return beside if beside.is_dir() else None


def test_hub_lock_pins_the_z2jh_hub_side_with_the_security_fix() -> None:
    lock = pins(HUB_LOCK.read_text())
    jupyterhub = version_tuple(lock["jupyterhub"])
    assert (5, 5, 1) <= jupyterhub < (5, 6), f"jupyterhub {lock['jupyterhub']}: want 5.5.x >= 5.5.1"
    assert lock["jupyterhub-kubespawner"].startswith("7.")
    assert lock["oauthenticator"].startswith("17.4.")
    assert lock["jupyterhub-idle-culler"].startswith("1.4.")
    for base in ("httpx", "pydantic", "pydantic-settings", "pyyaml"):
        assert base in lock, f"{base} (a base dependency of hub_config) is not in the hub lock"
    assert not set(lock) & SERVICE_STACK, "the quota service's web stack is in the hub lock"


def test_hub_lock_is_hash_locked_for_the_hub_images_python() -> None:
    text = HUB_LOCK.read_text()
    assert "--python-version 3.12" in text.splitlines()[1], "resolve for k8s-hub:4.4.0's Python"
    blocks = requirement_blocks(text)
    assert blocks.keys() == pins(text).keys()
    unhashed = [name for name, block in blocks.items() if "--hash=sha256:" not in block]
    assert not unhashed, f"requirements without hashes: {unhashed}"


def test_hub_lock_keeps_z2jh_versions_except_jupyterhub() -> None:
    """Starting from z2jh's frozen image: only JupyterHub moves; what z2jh lacks is added."""
    lock = pins(HUB_LOCK.read_text())
    constraints = pins(HUB_CONSTRAINTS.read_text())
    assert "jupyterhub" not in constraints
    moved = {
        n: (v, constraints[n]) for n, v in lock.items() if n in constraints and v != constraints[n]
    }
    assert not moved, f"hub lock differs from requirements/hub-constraints.txt: {moved}"


def test_hub_constraints_are_the_z2jh_frozen_image() -> None:
    reference = z2jh_reference_dir()
    if reference is None:
        pytest.skip("no ../shared/reference/z2jh-4.4.0 and no NEXUS_Z2JH_REFERENCE")
    frozen = pins((reference / "hub-image-requirements.txt").read_text())
    assert frozen.pop("jupyterhub") == "5.5.0"
    assert pins(HUB_CONSTRAINTS.read_text()) == frozen


def test_dev_lock_runs_the_hub_lock_versions() -> None:
    """Dev and the tests run what the hub image runs: every hub-lock pin, same version."""
    dev = pins(DEV_LOCK.read_text())
    hub = pins(HUB_LOCK.read_text())
    missing = sorted(set(hub) - set(dev))
    assert not missing, f"hub-lock packages missing from dev.txt: {missing}"
    differ = {name: (dev[name], version) for name, version in hub.items() if dev[name] != version}
    assert not differ, f"dev.txt (dev, hub) versions differ: {differ} — run `make lock`"
    header = "\n".join(DEV_LOCK.read_text().splitlines()[:3])
    assert "-c requirements/hub.txt" in header, "dev.txt must be compiled against the hub lock"


def test_make_lock_writes_both_locks_from_one_resolution() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text().replace("\\\n", " ")
    target = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    commands = [shlex.split(line) for line in target.splitlines()[1:] if line.strip()]
    hub = next(c for c in commands if "requirements/hub.txt" in c and "-o" in c)
    assert hub[hub.index("-o") + 1] == "requirements/hub.txt"
    assert {"--extra", "hub", "--generate-hashes", "3.12"} <= set(hub)
    assert hub[hub.index("-c") + 1] == "requirements/hub-constraints.txt"
    dev = next(c for c in commands if "requirements/dev.txt" in c)
    assert dev[dev.index("-c") + 1] == "requirements/hub.txt"
    assert commands.index(hub) < commands.index(dev)


def _pip_installs(run: str) -> list[list[str]]:
    steps = [shlex.split(step) for step in run.split("&&")]
    return [s for s in steps if s[:4] == ["python3", "-m", "pip", "install"]]


def test_hub_image_installs_exactly_the_lock() -> None:
    assert instructions("hub", "FROM") == ["quay.io/jupyterhub/k8s-hub:4.4.0"]
    copies = [c.split() for c in instructions("hub", "COPY")]
    assert ["requirements/hub.txt", "/tmp/nexus/requirements/hub.txt"] in copies
    assert ["hub_config/", "/tmp/nexus/hub_config/"] in copies
    assert not any("quota_service" in src or "dev.txt" in src for c in copies for src in c)
    assert (REPO_ROOT / "hub_config" / "userdirs.py").is_file()
    (run,) = instructions("hub", "RUN")
    installs = _pip_installs(run)
    assert len(installs) == 2, installs
    lock_install, project_install = installs
    # the lock, checked against its hashes, with nothing resolved beside it
    assert {"--require-hashes", "--no-deps"} <= set(lock_install)
    assert lock_install[lock_install.index("-r") + 1] == "/tmp/nexus/requirements/hub.txt"
    assert [a for a in lock_install[4:] if not a.startswith("-")] == [
        "/tmp/nexus/requirements/hub.txt"
    ]
    # hub_config itself, adding no dependency
    assert "--no-deps" in project_install
    assert [a for a in project_install[4:] if not a.startswith("-")] == ["/tmp/nexus"]
    assert "pip check" in run and "import hub_config, hub_config.userdirs" in run


def test_quota_service_image_ships_the_directory_rule() -> None:
    copies = [c.split() for c in instructions("quota-service", "COPY")]
    assert ["hub_config/", "/tmp/nexus/hub_config/"] in copies
    assert "hub_config.userdirs" in " ".join(instructions("quota-service", "RUN"))


def test_chart_runs_the_projects_hub_image() -> None:
    values = yaml.safe_load((REPO_ROOT / "helm" / "roman-nexus" / "values.yaml").read_text())
    image = values["jupyterhub"]["hub"]["image"]
    assert image["name"] == "ghcr.io/roman-research-nexus/hub", image
    assert image["tag"], "the hub image needs a tag"


@pytest.mark.integration
def test_hub_lock_is_fresh(tmp_path: Path) -> None:
    """Re-resolving pyproject's hub side against the constraints gives the lock back (PyPI)."""
    out = tmp_path / "hub.txt"
    shutil.copy(HUB_LOCK, out)  # uv prefers the pins already in the output file
    uv = REPO_ROOT / ".venv" / "bin" / "uv"
    proc = subprocess.run(
        [str(uv), "pip", "compile", "--quiet", "pyproject.toml", "--extra", "hub",
         "--python-version", "3.12", "--generate-hashes",
         "-c", str(HUB_CONSTRAINTS), "-o", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert pins(out.read_text()) == pins(HUB_LOCK.read_text()), "run `make lock`"
    # JupyterHub keeps its own database with SQLAlchemy/alembic; hub_config never asks for them
    for name in ("sqlalchemy", "alembic"):
        assert "roman-nexus" not in via(out.read_text())[name], name


def via(text: str) -> dict[str, str]:
    """name -> the `# via` comment lines uv writes under it."""
    found: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            current = canonical(match.group(1))
            found[current] = ""
        elif current and line.strip().startswith("#"):
            found[current] += line.strip("# ") + "\n"
    return found
