"""Where personal environments live, what a valid name is, and the errors the commands report.

An environment NAME is a virtualenv at ``~/.kernels/NAME`` (``$NEXUS_KERNELS_DIR`` overrides the
folder) and a kernelspec at ``<Jupyter data dir>/kernels/NAME`` (``~/.local/share/jupyter`` unless
``JUPYTER_DATA_DIR`` says otherwise). Both are in the home, which persists, so they survive a
server restart. Work in progress lives in hidden ``.tmp-*`` folders beside the environments and is
renamed into place at the end; a lock file serialises the commands of one person.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from jupyter_core.paths import jupyter_data_dir

# Lowercase letters, digits, '-' and '_', starting with a letter or digit: a folder name and a
# kernelspec name at once (Jupyter lowercases kernel names), never a path or a hidden folder.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VERSION_RE = re.compile(r"^3\.\d{1,2}(\.\d{1,3})?$")
MARKER = "kernel-create.json"  # written into every environment kernel-create makes
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"
# Kernel names no personal environment may take, whether or not a kernelspec is visible now.
RESERVED = frozenset({"python3", "python", "roman-research-nexus", "roman-calibration"})
MAX_DISPLAY = 100


class EnvError(Exception):
    """A failure the command reports as one message and a non-zero exit code."""

    exit_code = 1


class BadInput(EnvError):
    """The request itself is wrong (name, version, file): exit code 2."""

    exit_code = 2


def kernels_root() -> Path:
    """The folder holding the environments (in the home, so it persists)."""
    override = os.environ.get("NEXUS_KERNELS_DIR")
    return Path(override) if override else Path.home() / ".kernels"


def kernelspec_root() -> Path:
    """The user's own kernelspec folder, which Jupyter searches on every start."""
    return Path(jupyter_data_dir()) / "kernels"


def check_name(name: str) -> str:
    if NAME_RE.fullmatch(name):
        if name in RESERVED:
            raise BadInput(f"{name!r} is a platform kernel's name, not a personal environment's")
        return name
    hint = ""
    if name.lower() != name and NAME_RE.fullmatch(name.lower()):
        hint = f" (kernel names are lowercase: try {name.lower()!r})"
    raise BadInput(
        f"invalid environment name {name!r}{hint}: use 1-64 lowercase letters, digits, '-' or "
        "'_', starting with a letter or digit"
    )


def check_version(version: str) -> str:
    if VERSION_RE.fullmatch(version):
        return version
    raise BadInput(
        f"invalid Python version {version!r}: give it as X.Y or X.Y.Z, for example 3.12 or 3.13.1"
    )


def check_display_name(display: str) -> str:
    text = display.strip()
    if not text:
        raise BadInput("the display name is empty")
    if len(text) > MAX_DISPLAY or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise BadInput(
            f"invalid display name {display!r}: at most {MAX_DISPLAY} characters, no control "
            "characters"
        )
    return text


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def is_personal_spec(spec_dir: Path) -> bool:
    """A kernelspec kernel-create wrote (its metadata says so)."""
    spec = read_json(spec_dir / "kernel.json")
    meta = (spec or {}).get("metadata", {})
    return isinstance(meta, dict) and isinstance(meta.get("nexus_env"), dict)


def remove_tree(path: Path) -> None:
    """Remove a folder without following symlinks (a symlink itself is unlinked)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def sweep_stale(root: Path) -> None:
    """Remove what an interrupted run left (only called with the lock held: nothing is running)."""
    for entry in root.glob(TMP_PREFIX + "*"):
        remove_tree(entry)


@contextmanager
def locked(root: Path, err: TextIO = sys.stderr) -> Iterator[None]:
    """One kernel-create / kernel-delete at a time per person."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another kernel-create or kernel-delete to finish...", file=err)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
