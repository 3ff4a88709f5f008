"""kernel-create / kernel-list / kernel-delete against the real uv, the real Python builds on this
machine and real kernels started by jupyter_client, in a home of the test's own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.kernels import CAL, RRN
from tests.support.persistent_envs import (
    KERNEL_PYTHON_VERSION,
    LAB_BIN,
    Person,
    make_person,
)
from tests.support.wheels import build_wheel

pytestmark = [pytest.mark.kernels, pytest.mark.slow]

PROBE = (
    "import sys, nexus_hello\n"
    "print(sys.prefix)\n"
    "print('%d.%d.%d' % sys.version_info[:3])\n"
    "print(nexus_hello.greet())\n"
)


def second_python() -> Path | None:
    """A Python of another minor version than the kernels', installed on this machine."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [*sorted(pyenv.glob("3.1[0-9].*/bin")), Path("/usr/bin")]
    for bin_dir in candidates:
        for exe in sorted(bin_dir.glob("python3.1[0-9]")):
            if exe.name != f"python{KERNEL_PYTHON_VERSION}" and os.access(exe, os.X_OK):
                return exe
    return None


def test_create_run_list_delete_and_survive_a_restart(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    wheel = build_wheel(tmp_path, "nexus_hello", "0.1.0", "def greet():\n    return 'hello'\n")
    made = person.run(
        LAB_BIN / "kernel-create", "astro", KERNEL_PYTHON_VERSION, "Astro tools", "-p", wheel
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "made 'astro' (Astro tools, Python " in made.stdout
    env, spec_dir = person.kernels / "astro", person.specs / "astro"
    assert person.leftovers() == ["astro", "spec:astro"]  # no staging folder left behind
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["argv"][0] == str(env / "bin" / "python")
    assert spec["display_name"] == "Astro tools"
    assert spec["env"]["PYTHONNOUSERSITE"] == "1"
    assert (spec_dir / "logo-64x64.png").exists()

    # What a freshly started server finds: the platform's kernels and the person's, from the home.
    specs = person.kernelspecs()
    assert specs["astro"]["resource_dir"] == str(spec_dir)
    assert specs["astro"]["spec"]["display_name"] == "Astro tools"
    assert {RRN, CAL} <= set(specs)
    ran = person.execute("astro", PROBE)
    assert ran["status"] == "ok", ran
    prefix, version, greeting = ran["stdout"].split()
    assert prefix == str(env)
    assert version.startswith(KERNEL_PYTHON_VERSION + ".")
    assert greeting == "hello"

    # The environment was built elsewhere and renamed into place: its own pip still works
    # (what `%pip install` in the kernel runs), and the package is there on the next start.
    wheel2 = build_wheel(tmp_path, "nexus_later", "1.0", "VALUE = 42\n")
    pip = person.run(env / "bin" / "python", "-m", "pip", "install", "--no-index", wheel2)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (env / "bin" / "pip").exists()
    later = person.execute("astro", "import nexus_later, sys; print(nexus_later.VALUE, sys.prefix)")
    assert later["stdout"].split() == ["42", str(env)]

    listed = person.run(LAB_BIN / "kernel-list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split()[:3] == ["NAME", "PYTHON", "DISPLAY"]
    assert row.split()[0] == "astro" and row.split()[1] == version
    assert "Astro tools" in row and " ok " in row and row.endswith(str(env))
    as_json = json.loads(person.run(LAB_BIN / "kernel-list", "--json").stdout)
    assert as_json == [
        {
            "name": "astro",
            "display_name": "Astro tools",
            "python": version,
            "env": str(env),
            "kernelspec": str(spec_dir),
            "status": "ok",
        }
    ]

    # A restart: a new server for the same home (nothing but the home carries over).
    again = make_person(tmp_path)
    assert "astro" in again.kernelspecs()
    assert again.execute("astro", PROBE)["stdout"].split() == [str(env), version, "hello"]

    deleted = again.run(LAB_BIN / "kernel-delete", "astro")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted 'astro'" in deleted.stdout
    assert again.leftovers() == []
    assert "astro" not in again.kernelspecs()
    assert "no personal environments" in again.run(LAB_BIN / "kernel-list").stdout
    twice = again.run(LAB_BIN / "kernel-delete", "astro")
    assert twice.returncode == 2
    assert "no personal environment named 'astro'" in twice.stderr


def test_default_is_the_kernels_python_and_display_name(tmp_path: Path) -> None:
    person = make_person(tmp_path)
    made = person.run(LAB_BIN / "kernel-create", "quick")
    assert made.returncode == 0, made.stdout + made.stderr
    spec = json.loads((person.specs / "quick" / "kernel.json").read_text())
    assert spec["display_name"] == f"quick (Python {KERNEL_PYTHON_VERSION})"
    ran = person.execute("quick", "import sys; print('%d.%d' % sys.version_info[:2])")
    assert ran["stdout"].strip() == KERNEL_PYTHON_VERSION


def test_another_python_version_when_it_can_be_had(tmp_path: Path) -> None:
    exe = second_python()
    if exe is None:
        pytest.skip("no Python of another minor version on this machine")
    wanted = exe.name.removeprefix("python")
    # The version is found on the PATH, as uv finds any installed Python.
    person = make_person(tmp_path, extra_path=[exe.parent])
    made = person.run(LAB_BIN / "kernel-create", "older", wanted, f"Older {wanted}")
    assert made.returncode == 0, made.stdout + made.stderr
    ran = person.execute("older", "import sys; print('%d.%d' % sys.version_info[:2], sys.prefix)")
    assert ran["stdout"].split() == [wanted, str(person.kernels / "older")]
    listed = json.loads(person.run(LAB_BIN / "kernel-list", "--json").stdout)
    assert [(e["name"], e["python"].rsplit(".", 1)[0]) for e in listed] == [("older", wanted)]


def test_a_broken_environment_is_listed_and_deleted(tmp_path: Path) -> None:
    """Someone removed the kernelspec by hand (`jupyter kernelspec remove`): kernel-list says so,
    kernel-delete still cleans up."""
    person = make_person(tmp_path)
    assert person.run(LAB_BIN / "kernel-create", "half").returncode == 0
    removed = person.run(LAB_BIN / "jupyter", "kernelspec", "remove", "-y", "half")
    assert removed.returncode == 0, removed.stderr
    listed = json.loads(person.run(LAB_BIN / "kernel-list", "--json").stdout)
    assert [(e["name"], e["status"]) for e in listed] == [("half", "no kernelspec")]
    assert person.run(LAB_BIN / "kernel-delete", "half").returncode == 0
    assert person.leftovers() == []


def _person_with(tmp_path: Path, name: str) -> Person:
    person = make_person(tmp_path)
    made = person.run(LAB_BIN / "kernel-create", name)
    assert made.returncode == 0, made.stdout + made.stderr
    return person


def test_an_environment_whose_env_is_gone_is_listed_and_deleted(tmp_path: Path) -> None:
    person = _person_with(tmp_path, "gone")
    for path in sorted((person.kernels / "gone").rglob("*"), reverse=True):
        path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
    (person.kernels / "gone").rmdir()
    listed = json.loads(person.run(LAB_BIN / "kernel-list", "--json").stdout)
    assert [(e["name"], e["status"]) for e in listed] == [("gone", "environment missing")]
    deleted = person.run(LAB_BIN / "kernel-delete", "gone")
    assert deleted.returncode == 0, deleted.stderr
    assert "already gone" in deleted.stdout
    assert person.leftovers() == []
