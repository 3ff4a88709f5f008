"""The purge executor: carry out one manifest, re-checking every entry just before acting.

For each entry the executor
1. opens the entry's parent directory from the user's root one component at a time with
   ``openat(O_NOFOLLOW | O_DIRECTORY)`` (``walk.open_subdir``), refusing symlinks, other file
   systems and other mounts of the same one (bind mounts: the root's mount ID). The root itself
   must still be the directory (device, inode) the plan saw;
2. ``fstatat(AT_SYMLINK_NOFOLLOW)``s the entry relative to that descriptor and checks it is the
   same object, unchanged: type, device, inode, size, mtime, ctime and (for files) atime. A file
   read, written, replaced or swapped for a symlink since the plan is *kept*;
3. acts relative to the parent descriptor: ``unlinkat`` / ``unlinkat(AT_REMOVEDIR)``. An archive
   is uploaded and verified first (``Archiver``), recorded durably, re-checked, then unlinked.

The window between the last check and ``unlinkat`` cannot be closed on Linux; what can land in
it is harmless: ``unlinkat`` removes a *name* in the user's own directory, never follows it, and a
hard link's other names (and their data) survive.

Every step goes to a ``Journal``; entries whose last step is terminal are skipped on a rerun, and a
verified upload is never redone.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .journal import ABSENT, DONE, ERROR, KEPT, TERMINAL, UPLOADED, Journal, Step
from .manifest import ARCHIVE, DELETE, RMDIR, Entry, Header, display, read_entries, read_header
from .walk import UnsafePathError, mount_id, open_planned_root, open_subdir


class ExecutorError(RuntimeError):
    """The run cannot start: too early, or the root is not the one planned."""


class FileChangedError(Exception):
    """The file is not what the plan saw (raised by archivers while reading it)."""


class ArchiveFailedError(Exception):
    """The archive copy could not be made or verified; the local file is left, a rerun retries."""


class Archiver(Protocol):
    def upload(self, dir_fd: int, name: bytes, entry: Entry) -> str:
        """Copy the file to the archive, verify the copy, return its SHA-256 (hex).

        Must open the file relative to `dir_fd` without following symlinks and raise
        ``FileChangedError`` if it is not the planned file or changes while being read.
        """


@dataclass
class ExecResult:
    dry_run: bool
    entries: int = 0
    done: int = 0
    kept: int = 0
    absent: int = 0
    errors: int = 0
    uploaded: int = 0
    already_done: int = 0
    bytes_freed: int = 0
    kept_samples: list[tuple[str, str]] = field(default_factory=list)
    error_samples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.errors == 0

    def _kept(self, entry: Entry, why: str) -> None:
        self.kept += 1
        if len(self.kept_samples) < 50:
            self.kept_samples.append((display(entry.path), why))

    def _error(self, entry: Entry, why: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 50:
            self.error_samples.append((display(entry.path), why))


class _ParentCache:
    """Open parent directories, reused while consecutive entries share a prefix."""

    def __init__(self, root_fd: int, dev: int) -> None:
        self.root_fd = root_fd
        self.dev = dev
        self.mnt = mount_id(root_fd)
        self.parts: list[bytes] = []
        self.fds: list[int] = []

    def parent_of(self, parts: tuple[bytes, ...]) -> int:
        parents = parts[:-1]
        k = 0
        limit = min(len(self.parts), len(parents))
        while k < limit and self.parts[k] == parents[k]:
            k += 1
        self._truncate(k)
        fd = self.fds[-1] if self.fds else self.root_fd
        for comp in parents[k:]:
            fd = open_subdir(fd, comp, self.dev, mnt=self.mnt)
            self.parts.append(comp)
            self.fds.append(fd)
        return fd

    def _truncate(self, k: int) -> None:
        while len(self.fds) > k:
            os.close(self.fds.pop())
            self.parts.pop()

    def close(self) -> None:
        self._truncate(0)


def mismatch(entry: Entry, st: os.stat_result, root_uid: int) -> str | None:
    """Why `st` is not the planned entry any more, or None when it is."""
    mode = st.st_mode
    if entry.kind == "file" and not stat.S_ISREG(mode):
        return "no longer a regular file"
    if entry.kind == "symlink" and not stat.S_ISLNK(mode):
        return "no longer a symlink"
    if entry.kind == "dir" and not stat.S_ISDIR(mode):
        return "no longer a directory"
    if st.st_dev != entry.dev or st.st_ino != entry.ino:
        return "replaced by another file"
    if entry.kind == "file":
        if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
            return "modified since the plan"
        if st.st_atime_ns != entry.atime_ns:
            return "read since the plan"
        if st.st_ctime_ns != entry.ctime_ns:
            return "changed (metadata) since the plan"
        if st.st_nlink > 1 and st.st_uid != root_uid:
            return "a hard link to a file the user does not own"
    elif entry.kind == "symlink":
        if st.st_mtime_ns != entry.mtime_ns or st.st_ctime_ns != entry.ctime_ns:
            return "changed since the plan"
    return None


def execute(
    manifest: Path,
    journal: Journal,
    *,
    now_ns: int | None = None,
    dry_run: bool = True,
    archiver: Archiver | None = None,
    progress: Callable[[int], None] | None = None,
    stop_after: int | None = None,
) -> ExecResult:
    """Carry out (or, when `dry_run`, only re-check) the manifest at `manifest`.

    `stop_after` ends the run after that many actions, as a crash would (for tests of resuming).
    """
    header = read_header(manifest)
    now = now_ns if now_ns is not None else time.time_ns()
    if not dry_run and now < header.not_before_ns:
        raise ExecutorError(
            f"manifest {header.run_id} for {header.user} may not act before its notice lead "
            f"time has passed ({header.not_before_ns} ns > now {now} ns)"
        )
    root_fd = _open_root(header)
    local_dev = os.fstat(root_fd).st_dev
    try:
        parents = _ParentCache(root_fd, local_dev)
    except OSError:
        os.close(root_fd)
        raise
    done_before = journal.load()
    result = ExecResult(dry_run=dry_run)
    actions = 0
    try:
        for entry in read_entries(manifest):
            entry = rebase(entry, header.root_dev, local_dev)
            result.entries += 1
            if progress is not None and result.entries % 1000 == 0:
                progress(result.entries)
            prior = done_before.get(entry.seq)
            if prior is not None and prior.state in TERMINAL:
                result.already_done += 1
                continue
            if stop_after is not None and actions >= stop_after:
                break
            if _one(entry, prior, header, parents, journal, result, dry_run, archiver):
                actions += 1
    finally:
        parents.close()
        os.close(root_fd)
        journal.close()
    return result


def _open_root(header: Header) -> int:
    try:
        return open_planned_root(header.root, header.root_ino)
    except UnsafePathError as exc:
        raise ExecutorError(f"{display(header.root)} is {exc.strerror}") from None
    except OSError as exc:
        raise ExecutorError(f"cannot open {display(header.root)}: {exc.strerror}") from None


def rebase(entry: Entry, planned_dev: int, local_dev: int) -> Entry:
    """The entry with the root's device number as this process sees it (`open_planned_root`)."""
    if entry.dev == planned_dev and planned_dev != local_dev:
        entry.dev = local_dev
    return entry


def _one(
    entry: Entry,
    prior: Step | None,
    header: Header,
    parents: _ParentCache,
    journal: Journal,
    result: ExecResult,
    dry_run: bool,
    archiver: Archiver | None,
) -> bool:
    """Handle one entry; True when it changed something (or would have, in a dry run)."""
    name = entry.parts[-1]

    def keep(why: str) -> bool:
        result._kept(entry, why)
        if not dry_run:
            journal.record(Step(entry.seq, KEPT, why))
        return False

    def absent() -> bool:
        result.absent += 1
        if not dry_run:
            journal.record(Step(entry.seq, ABSENT))
        return False

    def changed(dir_fd: int) -> bool:
        """Stat the name again, never following it: False while it is the planned object,
        else True once the entry is recorded as absent or kept."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            absent()
            return True
        why = mismatch(entry, st, header.root_uid)
        if why is None:
            return False
        keep(why)
        return True

    try:
        dir_fd = parents.parent_of(entry.parts)
    except UnsafePathError as exc:
        return keep(f"a parent directory is unsafe: {exc.strerror}")
    except FileNotFoundError:
        return absent()
    except OSError as exc:
        result._error(entry, f"cannot open its directory: {exc.strerror}")
        if not dry_run:
            journal.record(Step(entry.seq, ERROR, str(exc.strerror)))
        return False
    if changed(dir_fd):
        return False
    if entry.kind == "symlink" and os.readlink(name, dir_fd=dir_fd) != entry.link_target:
        return keep("its target changed since the plan")
    if dry_run:
        result.done += 1
        return True
    try:
        if entry.action == ARCHIVE and entry.kind == "file":
            sha = prior.sha256 if prior is not None and prior.state == UPLOADED else None
            if sha is None:
                if archiver is None:
                    raise ExecutorError("an archive manifest needs an archiver")
                try:
                    sha = archiver.upload(dir_fd, name, entry)
                except FileChangedError as exc:
                    return keep(str(exc) or "changed while it was archived")
                except ArchiveFailedError as exc:
                    result._error(entry, f"archive failed: {exc}")
                    journal.record(Step(entry.seq, ERROR, str(exc)))
                    return False
                journal.record(Step(entry.seq, UPLOADED, sha256=sha), durable=True)
                result.uploaded += 1
                # Re-check after the (slow) upload: the file must still be the verified one.
                if changed(dir_fd):
                    return False
            os.unlink(name, dir_fd=dir_fd)
            journal.record(Step(entry.seq, DONE, sha256=sha))
        elif entry.action in (DELETE, ARCHIVE):
            os.unlink(name, dir_fd=dir_fd)
            journal.record(Step(entry.seq, DONE))
        elif entry.action == RMDIR:
            try:
                os.rmdir(name, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    return keep("directory not empty (it holds kept files)")
                raise
            journal.record(Step(entry.seq, DONE))
        else:
            raise ExecutorError(f"unknown action {entry.action!r}")
    except FileNotFoundError:
        return absent()
    except OSError as exc:
        if exc.errno == errno.EBUSY:  # a mount point (e.g. a bind-mounted file): never removed
            return keep("a mount point")
        result._error(entry, exc.strerror or str(exc))
        journal.record(Step(entry.seq, ERROR, exc.strerror or str(exc)))
        return False
    result.done += 1
    if entry.kind == "file":
        result.bytes_freed += entry.size
    return True


def _execute_with_file_journal(args: tuple[Path, int | None, bool]) -> ExecResult | str:
    from .journal import FileJournal

    manifest, now_ns, dry_run = args
    try:
        return execute(
            manifest, FileJournal(manifest.with_suffix(".journal")), now_ns=now_ns, dry_run=dry_run
        )
    except (ExecutorError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def execute_many(
    manifests: list[Path],
    *,
    now_ns: int | None = None,
    dry_run: bool = True,
    workers: int | None = None,
) -> list[ExecResult | str]:
    """Execute deletion-only manifests (no archiver), several at once in worker processes.

    Manifests are independent (each has its own root and its journal ``MANIFEST.journal``), so
    users' manifests run in parallel, one process per CPU by default. Results come back in the
    order of `manifests`; a manifest that could not run yields its error message instead.
    """
    import multiprocessing

    jobs = [(m, now_ns, dry_run) for m in manifests]
    n = min(workers or os.cpu_count() or 1, len(jobs))
    if n <= 1:
        return [_execute_with_file_journal(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(n) as pool:
        return pool.map(_execute_with_file_journal, jobs, chunksize=1)
