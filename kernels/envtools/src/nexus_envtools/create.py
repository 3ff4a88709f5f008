"""kernel-create: a uv virtualenv with ipykernel in the home, registered as a kernel.

Everything is built in a hidden staging folder beside the environments
(``~/.kernels/.tmp-NAME-XXXX/{env,spec}``) and renamed into place only when it is complete: the
environment to ``~/.kernels/NAME``, the kernelspec to ``<Jupyter data dir>/kernels/NAME``. Any
failure, Ctrl-C or SIGTERM removes the staging folder, so a failed run leaves nothing behind.
The virtualenv is made ``--relocatable`` so that it still works after the rename.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from jupyter_client.kernelspec import KernelSpecManager

from . import layout, pythons
from .layout import BadInput, EnvError


@dataclass(frozen=True)
class Request:
    name: str
    version: str  # X.Y or X.Y.Z
    display_name: str | None
    requirements: tuple[Path, ...] = ()
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Made:
    name: str
    display_name: str
    python: str
    env: Path
    spec: Path


def check_request(
    name: str,
    version: str | None,
    display_name: str | None,
    requirements: Sequence[str],
    packages: Sequence[str],
) -> Request:
    """Everything that can be checked before anything is made."""
    layout.check_name(name)
    version = layout.check_version(version or pythons.default_version())
    display = layout.check_display_name(display_name) if display_name is not None else None
    files = []
    for req in requirements:
        path = Path(req).expanduser()
        if not path.is_file():
            raise BadInput(f"requirements file {req!r} does not exist")
        files.append(path.resolve())
    for spec in packages:
        if not spec.strip() or spec.lstrip().startswith("-"):
            raise BadInput(f"invalid package {spec!r}: give a requirement such as 'astropy>=7'")
    return Request(name, version, display, tuple(files), tuple(packages))


def visible_kernel_names() -> set[str]:
    """Every kernel name the server would list now (platform, personal, anyone's)."""
    manager = KernelSpecManager()
    manager.ensure_native_kernel = False
    return {name.lower() for name in manager.find_kernel_specs()}


def check_free(name: str, root: Path, spec_root: Path) -> None:
    if (root / name).exists() or (root / name).is_symlink():
        raise BadInput(
            f"an environment named {name!r} already exists ({root / name}); pick another name "
            f"or remove it first with: kernel-delete {name}"
        )
    if (spec_root / name).exists() or name in visible_kernel_names():
        raise BadInput(
            f"a kernel named {name!r} already exists (see `jupyter kernelspec list`); "
            "pick another name"
        )


def kernelspec(req: Request, env: Path, version: str) -> dict[str, Any]:
    major, minor = (int(part) for part in version.split(".")[:2])
    argv = [str(env / "bin" / "python")]
    if (major, minor) >= (3, 11):
        argv.append("-Xfrozen_modules=off")  # lets the debugger see every module
    argv += ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return {
        "argv": argv,
        "display_name": req.display_name or f"{req.name} (Python {major}.{minor})",
        "language": "python",
        "env": {"PYTHONNOUSERSITE": "1"},
        "metadata": {
            "debugger": True,
            "nexus_env": {"created_by": "kernel-create", "env": str(env), "python": version},
        },
    }


def install(uv: str, env: Path, req: Request) -> None:
    """ipykernel and what the person asked for, into the staged env (uv's own messages on error)."""
    args = ["pip", "install", "--python", str(env / "bin" / "python"), "ipykernel"]
    for path in req.requirements:
        args += ["-r", str(path)]
    args += list(req.packages)
    proc = pythons.run_uv(uv, args)
    if proc.returncode != 0:
        raise EnvError(
            f"installing into {req.name!r} failed, nothing was made:\n{pythons.tail(proc.stderr)}"
        )


def copy_logos(env: Path, spec_dir: Path) -> None:
    """ipykernel's Python logos, as `ipykernel install` would copy them."""
    found = list((env / "lib").glob("python3*/site-packages/ipykernel/resources"))
    for resources in found[:1]:
        for logo in resources.glob("logo-*"):
            shutil.copy2(logo, spec_dir / logo.name)


def build(uv: str, req: Request, python: pythons.Python, stage: Path, final_env: Path) -> None:
    env = stage / "env"
    venv_args = ["venv", "--relocatable", "--seed", "--prompt", req.name]
    made = pythons.run_uv(
        uv, [*venv_args, "--python", python.path, str(env)], {"UV_PYTHON_DOWNLOADS": "never"}
    )
    if made.returncode != 0:
        raise EnvError(f"uv could not make the environment:\n{pythons.tail(made.stderr)}")
    install(uv, env, req)
    version = pythons.version_of(str(env / "bin" / "python"))
    spec_dir = stage / "spec"
    spec_dir.mkdir()
    spec = kernelspec(req, final_env, version)
    layout.write_json(spec_dir / "kernel.json", spec)
    copy_logos(env, spec_dir)
    layout.write_json(
        env / layout.MARKER,
        {
            "name": req.name,
            "display_name": spec["display_name"],
            "python": version,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "requirements": [str(p) for p in req.requirements],
            "packages": list(req.packages),
        },
    )


def move(src: Path, dst: Path) -> None:
    """Rename into place; copy when the two folders are on different file systems."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV
            raise
        shutil.copytree(src, dst, symlinks=True)
        shutil.rmtree(src)


def create(req: Request, out: TextIO, err: TextIO) -> Made:
    root = layout.kernels_root()
    spec_root = layout.kernelspec_root()
    uv = pythons.find_uv()
    with layout.locked(root, err):
        layout.sweep_stale(root)
        final_env, final_spec = root / req.name, spec_root / req.name
        check_free(req.name, root, spec_root)
        python = pythons.resolve(uv, req.version)
        print(f"kernel-create: Python {python.version} ({python.path})", file=err)
        stage = Path(tempfile.mkdtemp(prefix=f"{layout.TMP_PREFIX}{req.name}-", dir=root))
        try:
            print(f"kernel-create: installing ipykernel{_what(req)} ...", file=err)
            build(uv, req, python, stage, final_env)
            check_free(req.name, root, spec_root)
            spec_root.mkdir(parents=True, exist_ok=True)
            os.rename(stage / "env", final_env)
            try:
                move(stage / "spec", final_spec)
            except BaseException:
                layout.remove_tree(final_env)
                raise
        finally:
            layout.remove_tree(stage)
    spec = layout.read_json(final_spec / "kernel.json") or {}
    display = str(spec.get("display_name", req.name))
    print(
        f"made {req.name!r} ({display}, Python {python.version})\n"
        f"  environment: {final_env}\n  kernelspec:  {final_spec}\n"
        "Reload JupyterLab to see it in the launcher. Add packages later with:\n"
        f"  uv pip install --python {final_env} PACKAGE   (or %pip install PACKAGE in the kernel)",
        file=out,
    )
    return Made(req.name, display, python.version, final_env, final_spec)


def _what(req: Request) -> str:
    extra = [f"-r {p.name}" for p in req.requirements] + list(req.packages)
    return (" and " + " ".join(extra)) if extra else ""
