"""A safe directory walker: directory file descriptors, no symlinks, one mount.

The walk opens the root with ``O_NOFOLLOW | O_DIRECTORY`` and every subdirectory relative to its
parent's descriptor, again with ``O_NOFOLLOW``, checking that the directory it opened is the one it
saw (same ``st_dev`` and ``st_ino``) and that it sits on the root's file system *and mount*. It
never resolves a path from ``/`` again, so a directory swapped for a symlink mid-walk is refused by
the kernel.

``st_dev`` cannot see a bind mount of the same file system (a home bind-mounted into another, or
any directory of the volume mounted inside a home): both sides report one device. The mount is
told by its *mount ID*, read for each opened descriptor from ``/proc/self/fdinfo/<fd>``
(``mount_id``).

Names are handled as the kernel gives them. Internally they are ``str`` in Python's
*surrogateescape* file-system encoding (what ``os.scandir`` on a descriptor returns), which maps
every byte string one-to-one; at the module boundary they become ``bytes`` (``os.fsencode``).

Memory: the walk is depth first and keeps, per level of the current path, one open descriptor and
the names of the subdirectories still to visit there, never a list of the whole tree.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NOATIME keeps the jobs from updating access times (directories walked, files archived); the
# kernel allows it only to the owner or CAP_FOWNER, so it is tried first and dropped on EPERM.
NOATIME = getattr(os, "O_NOATIME", 0)

T = TypeVar("T")

# Kinds of entries the walk yields.
FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
OTHER = "other"


class UnsafePathError(OSError):
    """A path component is not what it must be: a symlink, another file system, or it changed."""


MOUNT_POINT = "mount point"


def mount_id(fd: int) -> int:
    """The mount ID of the mount `fd` lives on (as in /proc/self/mountinfo).

    Read from ``/proc/self/fdinfo/<fd>`` (``mnt_id:``, Linux 3.15+) rather than ``statx``'s
    ``STATX_MNT_ID`` (Python 3.11 has no ``os.statx``; ctypes would hard-code the struct layout)
    or mountinfo (paths, escaped and racy): it is the mount of this very descriptor, works on any
    descriptor, and costs ~6 µs per directory. Raises OSError when the kernel does not say.
    """
    info = os.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(info, 4096)
    finally:
        os.close(info)
    at = data.find(b"mnt_id:")
    if at < 0:
        raise OSError(errno.ENOTSUP, "the kernel reports no mount ID (/proc/self/fdinfo)")
    return int(data[at + 7 : data.index(b"\n", at)])


@dataclass(frozen=True, slots=True)
class WalkIssue:
    """Something the walk could not enter or chose not to, with the path relative to the root."""

    path: bytes
    reason: str
    errno: int = 0


@dataclass
class WalkReport:
    """Issues met during a walk: counted in full, the first `keep` kept for reports."""

    keep: int = 100
    count: int = 0
    unreadable: int = 0
    mounts_skipped: int = 0
    issues: list[WalkIssue] = field(default_factory=list)
    # Every mount point met (few): the planner must not plan their removal either.
    mount_points: set[bytes] = field(default_factory=set)

    def add(self, issue: WalkIssue) -> None:
        self.count += 1
        if issue.reason == MOUNT_POINT:
            self.mounts_skipped += 1
            self.mount_points.add(issue.path)
        elif issue.errno in (errno.EACCES, errno.EPERM):
            self.unreadable += 1
        if len(self.issues) < self.keep:
            self.issues.append(issue)


def open_noatime(path: bytes | str, flags: int, dir_fd: int | None = None) -> int:
    """`os.open` with O_NOATIME added where the kernel allows it, without it where not."""
    if NOATIME:
        try:
            return os.open(path, flags | NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(path, flags, dir_fd=dir_fd)


def open_dir(path: bytes | str, dir_fd: int | None = None) -> int:
    """Open a directory without following a symlink in its last component (O_NOATIME if allowed)."""
    return open_noatime(path, DIR_FLAGS, dir_fd)


def open_planned_root(path: bytes, planned_ino: int | None) -> int:
    """Open a manifest's root in this process: the planned inode, on its parent's file system.

    `planned_ino` None accepts another directory at that path (a restore into a home made anew).
    Device numbers are not compared with the plan's. On EFS (NFS) each node's kernel numbers a
    mount when it makes it, so the plan job, the execute job and the quota pod that restores can
    see one directory under different ``st_dev``; the inode (the server's file id) is the same.
    The root must sit on the file system and mount of the folder that holds it (the storage
    root), so a different file system mounted at the root's path is refused.
    Raises ``UnsafePathError`` (and ``OSError`` when it cannot be opened).
    """
    parent = open_dir(os.path.dirname(path) or b".")
    try:
        fd = open_dir(path)
        try:
            st, parent_st = os.fstat(fd), os.fstat(parent)
            if planned_ino is not None and st.st_ino != planned_ino:
                raise UnsafePathError(errno.EXDEV, "not the directory that was planned")
            if st.st_dev != parent_st.st_dev or mount_id(fd) != mount_id(parent):
                raise UnsafePathError(errno.EXDEV, "on another file system or mount now")
        except BaseException:
            os.close(fd)
            raise
    finally:
        os.close(parent)
    return fd


def open_subdir(
    parent_fd: int,
    name: str | bytes,
    dev: int,
    expect_ino: int | None = None,
    mnt: int | None = None,
) -> int:
    """Open `name` under `parent_fd` as a directory on file system `dev` and mount `mnt`, or raise.

    Raises ``UnsafePathError`` when the entry is a symlink (ELOOP from O_NOFOLLOW) or not a
    directory, lives on another file system or another mount (errno EXDEV), or is not the inode
    `expect_ino` seen earlier. `mnt` defaults to the parent's mount: a child must be on it.
    """
    if mnt is None:
        mnt = mount_id(parent_fd)
    try:
        fd = open_dir(name, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(exc.errno, "not a directory (symlink or file)") from None
        raise
    try:
        st = os.fstat(fd)
        if st.st_dev != dev:
            raise UnsafePathError(errno.EXDEV, "on another file system")
        if mount_id(fd) != mnt:
            raise UnsafePathError(errno.EXDEV, "another mount (a bind mount?)")
        if expect_ino is not None and st.st_ino != expect_ino:
            raise UnsafePathError(errno.ESTALE, "changed since it was listed")
    except BaseException:
        os.close(fd)
        raise
    return fd


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIR
    if stat.S_ISLNK(mode):
        return SYMLINK
    return OTHER


def rel_join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


# Lists one directory (fd, rel_dir, dev): yields what the caller wants of it and returns its
# subdirectories on `dev` to enter, as ``(name, ino)``.
Lister = Callable[[int, str, int], Generator[T, None, list[tuple[str, int]]]]


def _descend(
    root: bytes | str, report: WalkReport, lister: Lister[T]
) -> Generator[T, None, os.stat_result]:
    """The one safe descent under `root`, depth first: every directory is opened relative to its
    parent's descriptor by ``open_subdir`` (no symlink, same file system and mount, the inode
    listed) and handed to `lister`; what `lister` yields is passed on. A subdirectory that
    cannot be opened safely is recorded in `report` and skipped. Returns the root's ``fstat``.
    Raises OSError only when the root itself cannot be opened.
    """
    root_fd = open_dir(root)
    # Each frame: (fd, rel path, subdirectories still to enter as (name, ino)).
    stack: list[tuple[int, str, list[tuple[str, int]]]] = []
    try:
        root_st = os.fstat(root_fd)
        dev = root_st.st_dev
        mnt = mount_id(root_fd)
        subdirs = yield from lister(root_fd, "", dev)
        stack.append((root_fd, "", subdirs))
        while stack:
            fd, rel, pending = stack[-1]
            if not pending:
                stack.pop()
                if fd != root_fd:
                    os.close(fd)
                continue
            name, ino = pending.pop()
            child_rel = rel_join(rel, name)
            try:
                cfd = open_subdir(fd, name, dev, ino, mnt)
            except OSError as exc:
                report.add(_issue(child_rel, exc))
                continue
            # On the stack while it is listed, so it is closed if the listing raises.
            stack.append((cfd, child_rel, []))
            child_pending = yield from lister(cfd, child_rel, dev)
            stack[-1] = (cfd, child_rel, child_pending)
    finally:
        for fd, _, _ in stack:
            if fd != root_fd:
                os.close(fd)
        os.close(root_fd)
    return root_st


def walk(
    root: bytes | str,
    report: WalkReport | None = None,
    *,
    include_dirs: bool = True,
) -> Iterator[tuple[int, str, str, os.stat_result]]:
    """Yield ``(dir_fd, rel_dir, name, lstat)`` for every entry under `root` (root excluded).

    `dir_fd` is the open descriptor of the entry's directory, valid until the next item.

    `rel_dir` and `name` are surrogateescape ``str``; ``os.fsencode(rel_join(rel_dir, name))`` is
    the exact byte path relative to the root. Directories are yielded (when `include_dirs`) before
    their contents. Mount points and symlinks are yielded as entries but never entered.
    Unreadable or vanished directories are recorded in `report` and skipped.
    Raises OSError only when the root itself cannot be opened.
    """
    rep = report if report is not None else WalkReport()

    def listing(
        fd: int, rel: str, dev: int
    ) -> Generator[tuple[int, str, str, os.stat_result], None, list[tuple[str, int]]]:
        return (yield from _list(fd, rel, dev, rep, include_dirs))

    yield from _descend(root, rep, listing)


def walk_dirs(
    root: bytes | str,
    visit: Callable[[int, str, int], list[tuple[str, int]]],
    report: WalkReport,
) -> os.stat_result:
    """Drive `visit(fd, rel_dir, dev)` over every directory under `root`, depth first.

    The same traversal as ``walk`` (``_descend``) for callers that handle a whole directory at a
    time (the scanner's hot loop): `visit` lists the directory at `fd` and returns its
    subdirectories on `dev` as ``(name, ino)``, which are opened safely and visited in turn.
    Returns the root's ``fstat``. Raises OSError only when the root cannot be opened.
    """

    def listing(fd: int, rel: str, dev: int) -> Generator[None, None, list[tuple[str, int]]]:
        yield from ()
        return _visit(visit, fd, rel, dev, report)

    descent = _descend(root, report, listing)
    while True:
        try:
            next(descent)
        except StopIteration as done:
            root_st: os.stat_result = done.value
            return root_st


def _issue(rel: str, exc: OSError) -> WalkIssue:
    if isinstance(exc, UnsafePathError) and exc.errno == errno.EXDEV:
        return WalkIssue(os.fsencode(rel), MOUNT_POINT, errno.EXDEV)
    return WalkIssue(os.fsencode(rel), exc.strerror or str(exc), exc.errno or 0)


def _visit(
    visit: Callable[[int, str, int], list[tuple[str, int]]],
    fd: int,
    rel: str,
    dev: int,
    report: WalkReport,
) -> list[tuple[str, int]]:
    try:
        return visit(fd, rel, dev)
    except OSError as exc:
        report.add(WalkIssue(os.fsencode(rel), exc.strerror or str(exc), exc.errno or 0))
        return []


def _list(
    fd: int, rel: str, dev: int, rep: WalkReport, include_dirs: bool
) -> Generator[tuple[int, str, str, os.stat_result], None, list[tuple[str, int]]]:
    """List one directory; yield its entries; return its subdirectories on the same device."""
    subdirs: list[tuple[str, int]] = []
    try:
        it = os.scandir(fd)
    except OSError as exc:
        rep.add(WalkIssue(os.fsencode(rel), exc.strerror or str(exc), exc.errno or 0))
        return subdirs
    with it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we listed
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev != dev:
                    rep.add(WalkIssue(os.fsencode(rel_join(rel, entry.name)), MOUNT_POINT))
                    continue
                subdirs.append((entry.name, st.st_ino))
                if not include_dirs:
                    continue
            yield fd, rel, entry.name, st
    return subdirs
