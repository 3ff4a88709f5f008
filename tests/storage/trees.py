"""Build real trees of user homes for the storage tests."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hub_config.userdirs import directory_name

DAY_NS = 86_400 * 1_000_000_000


def put(
    path: Path | bytes, data: bytes = b"x", *, age_days: float = 0.0, mode: int = 0o644
) -> bytes:
    """Write a file (any byte name) and set its atime and mtime `age_days` in the past."""
    p = os.fsencode(path)
    parent = os.path.dirname(p)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(p, mode)
    t = time.time_ns() - int(age_days * DAY_NS)
    os.utime(p, ns=(t, t))
    return p


@dataclass
class Layout:
    base: Path
    homes: Path
    scratch: Path
    outside: Path

    def home(self, user: str) -> Path:
        return self.homes / directory_name(user)

    def scr(self, user: str) -> Path:
        return self.scratch / directory_name(user)


def layout(base: Path, users: list[str]) -> Layout:
    lay = Layout(base, base / "homes", base / "scratch", base / "outside")
    for d in (lay.homes, lay.scratch, lay.outside):
        d.mkdir(parents=True, exist_ok=True)
    for u in users:
        lay.home(u).mkdir(exist_ok=True)
        lay.scr(u).mkdir(exist_ok=True)
    return lay


def read_quietly(path: bytes | Path) -> bytes:
    """Read a file without updating its atime (O_NOATIME), as the purge job itself does."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def snapshot(root: Path) -> dict[bytes, tuple[int, int, bytes]]:
    """Every entry under root (no symlink followed): (mode, size, content or link target)."""
    out: dict[bytes, tuple[int, int, bytes]] = {}
    broot = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(broot):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if os.path.islink(p):
                body = os.readlink(p)
            elif os.path.isfile(p):
                body = read_quietly(p)
            else:
                body = b""
            out[os.path.relpath(p, broot)] = (st.st_mode, st.st_size, body)
    return out


def mount_tmpfs(target: Path) -> bool:
    """Mount a real tmpfs at target; False when this machine does not allow it."""
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "nexus-test", os.fspath(target)],
        capture_output=True,
    )
    return res.returncode == 0


def umount(target: Path) -> None:
    subprocess.run(["umount", os.fspath(target)], check=False, capture_output=True)
