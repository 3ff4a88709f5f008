"""Restore an archived home (or the archived part of one) from S3, as root, into the user's tree.

Restore runs as root inside a directory tree the user controls, so it follows three rules:

- **It changes the owner, mode and times only of what it created itself**, and does so through
  a descriptor or inside its own *stage*: a directory ``.nexus-restore-<run>-<random>`` made at
  the user's root, owned by root and mode 0700, which the user can neither enter nor change.
  Files and symlinks are created there (``O_CREAT | O_EXCL | O_NOFOLLOW``), given their owner,
  mode and times there, and then hard-linked into place with ``linkat``, which never replaces an
  existing name. A name already taken by something else is left alone: the restored copy goes
  beside it as ``NAME.restored-<run id>``.
- **Missing directories are created as the person's**: with the owner, group and mode the
  manifest recorded for them (a removed directory of a whole-home archive), otherwise owned by
  the owner of the user's root with the permission bits (and setgid group) of the directory they
  are created in. A directory is made 0700 root-owned, opened without following links, checked
  to be root's (so the one made just now) and only then ``fchown``/``fchmod``-ed. An existing
  directory is used as it is.
- Every directory is opened from the root one component at a time (``walk.open_subdir``), never
  following a symlink and never leaving the root's file system and mount.

Contents are checked against the size and SHA-256 recorded at archive time before they are
linked into place. Restoring twice is harmless: an identical file or symlink already in place
counts as restored.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .executor import ArchiveFailedError
from .journal import DONE, UPLOADED, FileJournal
from .manifest import ARCHIVE, RMDIR, Entry, Header, display, read_entries, read_header
from .walk import UnsafePathError, mount_id, open_planned_root, open_subdir

if TYPE_CHECKING:
    from .archive import S3Archiver

STAGE_PREFIX = b".nexus-restore-"
# linkat without AT_SYMLINK_FOLLOW: a staged symlink is linked itself, never its target.
NOFOLLOW = {"follow_symlinks": False}
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class RestoreResult:
    files: int = 0
    symlinks: int = 0
    dirs: int = 0
    already: int = 0
    beside: int = 0
    bytes: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


class _Tree:
    """The user's root, the stage, and the directories this restore created."""

    def __init__(self, root_fd: int, header: Header, dirs: dict[bytes, Entry]) -> None:
        self.root_fd = root_fd
        self.header = header
        self.dev = os.fstat(root_fd).st_dev  # this process's number for the root's device
        self.mnt = mount_id(root_fd)
        root_st = os.fstat(root_fd)
        self.owner = (root_st.st_uid, root_st.st_gid)
        self.dirs = dirs  # removed directories recorded in the manifest, by path
        self.created: list[bytes] = []
        self.stage_name = STAGE_PREFIX + f"{header.run_id}-{secrets.token_hex(4)}".encode()
        self.stage = self._mkdir_own(root_fd, self.stage_name)

    def _mkdir_own(self, parent: int, name: bytes) -> int:
        """mkdir 0700 and open it; refuse unless it is root's own (the one made just now)."""
        os.mkdir(name, 0o700, dir_fd=parent)
        fd = open_subdir(parent, name, self.dev, mnt=self.mnt)
        if os.fstat(fd).st_uid != os.geteuid():
            os.close(fd)
            raise ArchiveFailedError(f"{display(name)} was replaced while it was being created")
        return fd

    def open_dir(self, parts: tuple[bytes, ...], result: RestoreResult) -> int:
        """Open (creating what is missing, as the person's) the directory `parts` under the root.

        The caller closes the descriptor unless it is `root_fd`.
        """
        fd = self.root_fd
        try:
            for i, comp in enumerate(parts):
                try:
                    nfd = open_subdir(fd, comp, self.dev, mnt=self.mnt)
                except FileNotFoundError:
                    nfd = self._create(fd, b"/".join(parts[: i + 1]), comp)
                    result.dirs += 1
                if fd != self.root_fd:
                    os.close(fd)
                fd = nfd
        except BaseException:
            if fd != self.root_fd:
                os.close(fd)
            raise
        return fd

    def _create(self, parent: int, path: bytes, name: bytes) -> int:
        fd = self._mkdir_own(parent, name)
        try:
            recorded = self.dirs.get(path)
            if recorded is not None:
                uid, gid, mode = recorded.uid, recorded.gid, stat.S_IMODE(recorded.mode)
            else:
                # Like its surroundings: the parent's permission bits, the home owner's ids
                # (the parent's group where setgid makes it the folder's group).
                pst = os.fstat(parent)
                mode = stat.S_IMODE(pst.st_mode) & 0o2777
                uid, gid = self.owner
                if pst.st_mode & stat.S_ISGID:
                    gid = pst.st_gid
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        self.created.append(path)
        return fd

    def place(self, staged: bytes, parent: int, name: bytes, result: RestoreResult) -> None:
        """Hard-link a staged entry into `parent` as `name` (or beside it), then unstage it."""
        target = name
        try:
            try:
                os.link(staged, name, src_dir_fd=self.stage, dst_dir_fd=parent, **NOFOLLOW)
            except FileExistsError:
                target = name + b".restored-" + self.header.run_id.encode()
                os.link(staged, target, src_dir_fd=self.stage, dst_dir_fd=parent, **NOFOLLOW)
        finally:
            os.unlink(staged, dir_fd=self.stage)
        if target != name:
            result.beside += 1

    def close(self) -> None:
        """Empty and remove the stage (it holds only what a failed step left)."""
        try:
            for leftover in os.listdir(self.stage):
                os.unlink(leftover, dir_fd=self.stage)
        finally:
            os.close(self.stage)
            os.rmdir(self.stage_name, dir_fd=self.root_fd)


def restore(manifest: Path, journal_path: Path, archiver: S3Archiver) -> RestoreResult:
    """Bring back everything the manifest archived and the journal says was removed."""
    header = read_header(manifest)
    steps = FileJournal(journal_path).load() if journal_path.exists() else {}
    result = RestoreResult()
    try:
        # The home may have been made anew since the plan: any directory there will do, on
        # the storage file system.
        root_fd = open_planned_root(header.root, None)
    except UnsafePathError as exc:
        raise ArchiveFailedError(f"{display(header.root)} is {exc.strerror}") from None
    try:
        dirs = {e.path: e for e in read_entries(manifest) if e.action == RMDIR}
        tree = _Tree(root_fd, header, dirs)
        try:
            # Directories first, shallowest first, so files land in them.
            for path in sorted(dirs, key=lambda p: p.count(b"/")):
                _in_dir(tree, dirs[path].parts, result, display(path), _nothing)
            for entry in read_entries(manifest):
                step = steps.get(entry.seq)
                if entry.action != ARCHIVE or step is None or step.state not in (DONE, UPLOADED):
                    continue  # never removed: nothing to bring back
                if entry.kind == "symlink":
                    act = partial(_restore_symlink, tree, entry, result)
                elif entry.kind == "file":
                    act = partial(_restore_file, tree, entry, step.sha256, archiver, result)
                else:
                    continue
                _in_dir(tree, entry.parts[:-1], result, display(entry.path), act)
            # Times of the directories made here, deepest first: creating entries changed them.
            for path in sorted(tree.created, key=lambda p: -p.count(b"/")):
                recorded = dirs.get(path)
                if recorded is not None:
                    times = partial(_set_times, (recorded.atime_ns, recorded.mtime_ns))
                    _in_dir(tree, recorded.parts, result, display(path), times)
        finally:
            tree.close()
    finally:
        os.close(root_fd)
    return result


def _in_dir(
    tree: _Tree,
    parts: tuple[bytes, ...],
    result: RestoreResult,
    shown: str,
    act: Callable[[int], None],
) -> None:
    """Open directory `parts` (creating it as needed) and run `act(fd)`; errors are recorded."""
    try:
        fd = tree.open_dir(parts, result)
    except (OSError, ArchiveFailedError) as exc:
        result.errors.append((shown, _why(exc)))
        return
    try:
        act(fd)
    except (OSError, ArchiveFailedError) as exc:
        result.errors.append((shown, _why(exc)))
    finally:
        if fd != tree.root_fd:
            os.close(fd)


def _nothing(fd: int) -> None:
    pass


def _set_times(ns: tuple[int, int], fd: int) -> None:
    os.utime(fd, ns=ns)


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _restore_symlink(tree: _Tree, entry: Entry, result: RestoreResult, parent: int) -> None:
    name = entry.parts[-1]
    assert entry.link_target is not None
    try:
        if os.readlink(name, dir_fd=parent) == entry.link_target:
            result.already += 1
            return
    except OSError:
        pass  # missing, or not a symlink: restore beside it
    staged = b"l%d" % entry.seq
    os.symlink(entry.link_target, staged, dir_fd=tree.stage)
    # Only root can write in the stage, so these names are the symlink made just now.
    os.chown(staged, entry.uid, entry.gid, dir_fd=tree.stage, follow_symlinks=False)
    times = (entry.atime_ns, entry.mtime_ns)
    os.utime(staged, ns=times, dir_fd=tree.stage, follow_symlinks=False)
    tree.place(staged, parent, name, result)
    result.symlinks += 1


def _restore_file(
    tree: _Tree,
    entry: Entry,
    sha_hex: str | None,
    archiver: S3Archiver,
    result: RestoreResult,
    parent: int,
) -> None:
    name = entry.parts[-1]
    assert entry.archive_key is not None
    try:
        cur = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        cur = None
    if (
        cur is not None
        and stat.S_ISREG(cur.st_mode)
        and cur.st_size == entry.size
        and cur.st_mtime_ns == entry.mtime_ns
    ):
        result.already += 1
        return
    staged = b"f%d" % entry.seq
    fd = os.open(staged, NEW_FILE, 0o600, dir_fd=tree.stage)
    try:
        got = hashlib.sha256()
        size = 0
        for chunk in archiver._stream(entry.archive_key):
            got.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if size != entry.size or (sha_hex is not None and got.hexdigest() != sha_hex):
            raise ArchiveFailedError("the archived object does not match the manifest")
        os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, stat.S_IMODE(entry.mode))
        os.fsync(fd)
        os.utime(fd, ns=(entry.atime_ns, entry.mtime_ns))
    except BaseException:
        os.close(fd)
        os.unlink(staged, dir_fd=tree.stage)
        raise
    os.close(fd)
    tree.place(staged, parent, name, result)
    result.files += 1
    result.bytes += size
