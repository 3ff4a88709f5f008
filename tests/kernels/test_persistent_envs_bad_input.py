"""kernel-create and kernel-delete refuse bad input with one clear message and a non-zero exit
code, and leave nothing half-made: no environment, no kernelspec, no staging folder."""

from __future__ import annotations

import fcntl
import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.persistent_envs import LAB_BIN, Person, make_person

pytestmark = [pytest.mark.kernels, pytest.mark.slow]

CREATE = LAB_BIN / "kernel-create"
DELETE = LAB_BIN / "kernel-delete"


def refused(person: Person, *args: str | Path, code: int, says: str, **env: str) -> str:
    proc = person.run(CREATE, *args, env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert says in proc.stderr, proc.stderr
    assert proc.stderr.count("kernel-create: error:") == 1
    # no crash of the command itself (a failing build's own traceback may follow the message)
    assert "Traceback" not in proc.stderr.split("kernel-create: error:")[0]
    assert person.leftovers() == []
    return proc.stderr


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Astro", "kernel names are lowercase: try 'astro'"),
        ("../evil", "invalid environment name '../evil'"),
        ("a/b", "invalid environment name"),
        ("my env", "invalid environment name"),
        (".hidden", "invalid environment name"),
        ("-rf", "invalid environment name"),
        ("x" * 65, "invalid environment name"),
        ("roman-research-nexus", "is a platform kernel's name"),
        ("python3", "is a platform kernel's name"),
    ],
)
def test_invalid_names(tmp_path: Path, name: str, says: str) -> None:
    person = make_person(tmp_path)
    refused(person, "--", name, code=2, says=says)
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("version", ["3", "3.x", "python3.12", "2.7", "3.13;rm", "latest"])
def test_invalid_versions(tmp_path: Path, version: str) -> None:
    refused(make_person(tmp_path), "v", version, code=2, says="invalid Python version")


def test_a_version_that_does_not_exist(tmp_path: Path) -> None:
    """uv knows every CPython it could download: 3.99 is not one of them (no network needed)."""
    err = refused(make_person(tmp_path), "future", "3.99", code=1, says="Python 3.99 cannot be had")
    assert "No download found for request: cpython-3.99" in err


def missing_version(person: Person) -> str:
    """A real CPython minor version that no interpreter on this person's PATH provides."""
    uv = LAB_BIN / "uv"
    for version in ("3.12", "3.10", "3.14", "3.9"):
        if person.run(uv, "python", "find", "--no-python-downloads", version).returncode != 0:
            return version
    pytest.fail("every candidate version is installed here")


def test_a_version_not_installed_with_downloads_off(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    version = missing_version(person)
    err = refused(
        person,
        "older",
        version,
        code=1,
        says=f"Python {version} cannot be had: it is not installed here and downloads are off",
        NEXUS_PYTHON_DOWNLOADS="never",
    )
    assert "Installed: " in err


def test_requirements_that_fail(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    missing = refused(person, "x", "", "X", "-r", "nope.txt", code=2, says="'nope.txt' does not")
    assert "requirements file" in missing

    (person.home / "r.txt").write_text("ipykernel==0.0.0\n")
    err = refused(
        person, "x", "3.13", "X", "--requirements", "r.txt", code=1, says="installing into 'x'"
    )
    assert "ipykernel==0.0.0" in err and "unsatisfiable" in err

    err = refused(person, "x", "-p", "astropy>>7", code=1, says="installing into 'x' failed")
    assert "astropy>>7" in err
    refused(person, "x", "--package=--index-url=http://evil", code=2, says="invalid package")

    # a package whose build fails (a local source tree; nothing fetched)
    broken = tmp_path / "broken"
    (broken / "nexus_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(
        '[project]\nname = "nexus-broken"\nversion = "0.1"\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    (broken / "backend.py").write_text(
        "def build_wheel(*args, **kwargs):\n    raise RuntimeError('nexus-broken cannot build')\n"
    )
    err = refused(person, "x", "-p", f"nexus-broken @ {broken.as_uri()}", code=1, says="failed")
    assert "nexus-broken cannot build" in err


def test_an_existing_name_is_refused_and_left_alone(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    first = person.run(CREATE, "dup", "", "First")
    assert first.returncode == 0, first.stderr
    spec = (person.specs / "dup" / "kernel.json").read_text()
    marker = (person.kernels / "dup" / "kernel-create.json").read_text()
    again = person.run(CREATE, "dup", "", "Second")
    assert again.returncode == 2
    assert "an environment named 'dup' already exists" in again.stderr
    assert "kernel-delete dup" in again.stderr
    assert (person.specs / "dup" / "kernel.json").read_text() == spec
    assert (person.kernels / "dup" / "kernel-create.json").read_text() == marker
    assert person.leftovers() == ["dup", "spec:dup"]


def test_a_kernel_registered_by_hand_is_neither_taken_nor_deleted(tmp_path: Path) -> None:
    """A kernelspec from `ipykernel install --user` is not kernel-create's to replace or remove."""
    person = make_person(tmp_path)
    spec_dir = person.specs / "mine"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Mine",
                "language": "python",
            }
        )
    )
    taken = person.run(CREATE, "mine")
    assert taken.returncode == 2 and "a kernel named 'mine' already exists" in taken.stderr
    kept = person.run(DELETE, "mine")
    assert kept.returncode == 2
    assert "was not made by kernel-create" in kept.stderr
    assert "jupyter kernelspec remove mine" in kept.stderr
    assert (spec_dir / "kernel.json").exists()
    assert sorted(p.name for p in person.kernels.iterdir()) == [".lock"]


def test_delete_bad_names(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    for name, says in [
        ("../home", "invalid environment name"),
        ("roman-calibration", "is a platform kernel's name"),
        ("nobody", "no personal environment named 'nobody'"),
    ]:
        proc = person.run(DELETE, "--", name)
        assert proc.returncode == 2, proc.stderr
        assert says in proc.stderr and "Traceback" not in proc.stderr


def test_a_crashed_run_is_swept_by_the_next_command(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    stale = person.kernels / ".tmp-crashed-abc123"
    (stale / "env" / "bin").mkdir(parents=True)
    proc = person.run(DELETE, "nobody")
    assert proc.returncode == 2
    assert person.leftovers() == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_mid_install_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM (the server stopping) or Ctrl-C while uv installs: the run unwinds and removes its
    staging folder. The package's build waits until the test has seen it start, so no timing is
    assumed."""
    person = make_person(tmp_path)
    started = tmp_path / "build-started"
    slow = tmp_path / "slow"
    (slow / "nexus_slow").mkdir(parents=True)
    (slow / "pyproject.toml").write_text(
        '[project]\nname = "nexus-slow"\nversion = "0.1"\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    # Builds never finish: they wait for the release file or for their parent (uv) to go.
    (slow / "backend.py").write_text(
        "import os, pathlib, time\n"
        f"STARTED = pathlib.Path({str(started)!r})\n"
        "def build_wheel(*args, **kwargs):\n"
        "    parent = os.getppid()\n"
        "    STARTED.write_text('started')\n"
        "    while os.getppid() == parent and not STARTED.with_suffix('.release').exists():\n"
        "        time.sleep(0.05)\n"
        "    raise RuntimeError('released')\n"
    )
    proc = person.popen(CREATE, "slow", "-p", f"nexus-slow @ {slow.as_uri()}")
    try:
        deadline = time.monotonic() + 300
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        assert any(p.name.startswith(".tmp-slow-") for p in person.kernels.iterdir())
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        started.with_suffix(".release").write_text("go")
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert "nothing was made" in err if sig == signal.SIGINT else "cleaning up" in err
    assert person.leftovers() == []


def test_commands_wait_for_each_other(tmp_path: Path) -> None:
    """One kernel-create or kernel-delete at a time per home: a second one waits, then runs."""
    person = make_person(tmp_path)
    person.kernels.mkdir()
    with open(person.kernels / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running kernel-create holds it
        proc = person.popen(DELETE, "nobody")
        assert proc.stderr is not None
        line = proc.stderr.readline()  # printed before it blocks
        assert "waiting for another kernel-create or kernel-delete to finish" in line
        assert proc.poll() is None
        fcntl.flock(held, fcntl.LOCK_UN)
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "no personal environment named 'nobody'" in err
