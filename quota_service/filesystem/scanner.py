"""The usage scanner: every user's home and scratch, and every team folder, walked in parallel,
in constant memory.

Each *target* (one user's home or scratch directory) is walked by ``walk.walk`` in a worker
process (the GIL would serialise threads: the work is Python per entry, not I/O wait). A worker
returns only a small ``RootUsage``; no list of files is ever built. Usage is counted the way
``du`` counts it: allocated bytes are ``st_blocks * 512`` of every entry, directories included,
and a file with several hard links inside the same root is counted once. The apparent size
(``st_size`` of files) is recorded beside it.

Team folders (``<teams root>/<team_dir>``, area ``TEAM``) are walked by the same code; their
allocated bytes are also summed per owner uid (``RootUsage.bytes_by_uid``), so the quota
service can say which member's files fill the folder. Every entry below the root is counted
under its own owner (a hard-linked file once, under its owner), and the root directory's own
blocks under the root's owner, so the per-owner figures add up to ``bytes_allocated``.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from hub_config.teamdirs import is_team_dir
from hub_config.userdirs import username_of

from .walk import WalkIssue, WalkReport, open_dir, rel_join, walk_dirs

HOME = "home"
SCRATCH = "scratch"
TEAM = "team"


@dataclass(frozen=True, slots=True)
class ScanTarget:
    user: str  # the username; for TEAM, the folder's team_dir
    area: str  # HOME, SCRATCH or TEAM
    path: bytes


@dataclass(slots=True)
class RootUsage:
    """What one target holds. Times are nanoseconds since the epoch (0 when there are no files)."""

    user: str
    area: str
    path: bytes
    bytes_allocated: int = 0
    bytes_apparent: int = 0
    files: int = 0
    dirs: int = 0
    newest_atime_ns: int = 0
    newest_mtime_ns: int = 0
    owner_uid: int = -1
    issues: int = 0
    unreadable: int = 0
    mounts_skipped: int = 0
    issue_samples: list[tuple[bytes, str]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    # TEAM only: allocated bytes and files per owner uid (empty for homes and scratch).
    bytes_by_uid: dict[int, int] = field(default_factory=dict)
    files_by_uid: dict[int, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = os.fsdecode(self.path)
        data["issue_samples"] = [
            (p.decode("utf-8", "backslashreplace"), r) for p, r in self.issue_samples
        ]
        return data


class _Tally:
    """The scanner's per-directory visitor: sums one directory's entries into counters."""

    __slots__ = (
        "allocated",
        "apparent",
        "dirs",
        "files",
        "newest_a",
        "newest_m",
        "owner_files",
        "owners",
        "report",
        "seen",
    )

    def __init__(self, report: WalkReport, *, by_owner: bool = False) -> None:
        self.allocated = 0
        self.apparent = 0
        self.files = 0
        self.dirs = 0
        self.newest_a = 0
        self.newest_m = 0
        self.seen: set[int] = set()
        self.report = report
        # Blocks (512 bytes) and files per owner uid, for team folders only.
        self.owners: dict[int, int] | None = {} if by_owner else None
        self.owner_files: dict[int, int] | None = {} if by_owner else None

    def __call__(self, fd: int, rel: str, dev: int) -> list[tuple[str, int]]:
        subdirs: list[tuple[str, int]] = []
        allocated = apparent = files = dirs = 0
        newest_a = self.newest_a
        newest_m = self.newest_m
        seen = self.seen
        owners = self.owners
        owner_files = self.owner_files
        s_isdir = stat.S_ISDIR
        lstat = os.stat
        # listdir + fstatat is ~10% cheaper per entry than scandir's DirEntry objects.
        for name in os.listdir(fd):
            try:
                st = lstat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if s_isdir(st.st_mode):
                if st.st_dev != dev:
                    self.report.add(WalkIssue(os.fsencode(rel_join(rel, name)), "mount point"))
                    continue
                subdirs.append((name, st.st_ino))
                dirs += 1
                allocated += st.st_blocks
                if owners is not None:
                    owners[st.st_uid] = owners.get(st.st_uid, 0) + st.st_blocks
                continue
            files += 1
            if owner_files is not None:
                owner_files[st.st_uid] = owner_files.get(st.st_uid, 0) + 1
            if st.st_nlink > 1:
                if st.st_ino in seen:
                    continue
                seen.add(st.st_ino)
            allocated += st.st_blocks
            apparent += st.st_size
            if owners is not None:
                owners[st.st_uid] = owners.get(st.st_uid, 0) + st.st_blocks
            if st.st_atime_ns > newest_a:
                newest_a = st.st_atime_ns
            if st.st_mtime_ns > newest_m:
                newest_m = st.st_mtime_ns
        self.allocated += allocated * 512
        self.apparent += apparent
        self.files += files
        self.dirs += dirs
        self.newest_a = newest_a
        self.newest_m = newest_m
        return subdirs


def scan_root(target: ScanTarget, sample_issues: int = 20) -> RootUsage:
    """Walk one target and sum its usage. Never raises for file-system trouble: sets `error`."""
    started = time.perf_counter()
    usage = RootUsage(target.user, target.area, target.path)
    report = WalkReport(keep=sample_issues)
    tally = _Tally(report, by_owner=target.area == TEAM)
    try:
        root_st = walk_dirs(target.path, tally, report)
    except OSError as exc:
        usage.error = f"{exc.strerror or exc}"
        return usage
    if tally.owners is not None and tally.owner_files is not None:
        owners = dict(tally.owners)
        owners[root_st.st_uid] = owners.get(root_st.st_uid, 0) + root_st.st_blocks
        usage.bytes_by_uid = {uid: blocks * 512 for uid, blocks in sorted(owners.items())}
        usage.files_by_uid = dict(sorted(tally.owner_files.items()))
    usage.owner_uid = root_st.st_uid
    usage.bytes_allocated = tally.allocated + root_st.st_blocks * 512
    usage.bytes_apparent = tally.apparent
    usage.files = tally.files
    usage.dirs = tally.dirs
    usage.newest_atime_ns = tally.newest_a
    usage.newest_mtime_ns = tally.newest_m
    usage.issues = report.count
    usage.unreadable = report.unreadable
    usage.mounts_skipped = report.mounts_skipped
    usage.issue_samples = [(i.path, i.reason) for i in report.issues]
    usage.seconds = time.perf_counter() - started
    return usage


def discover_targets(home_root: bytes | str, scratch_root: bytes | str | None) -> list[ScanTarget]:
    """One target per user directory directly under each root (symlinks are never targets).

    A directory's name is read back to its username with the one username -> directory rule
    (`hub_config.userdirs`); a name that rule never makes belongs to nobody and is skipped.
    """
    targets: list[ScanTarget] = []
    areas: list[tuple[str, bytes]] = [(HOME, os.fsencode(home_root))]
    if scratch_root is not None:
        areas.append((SCRATCH, os.fsencode(scratch_root)))
    for area, root in areas:
        try:
            fd = open_dir(root)
        except FileNotFoundError:
            continue
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    raw = os.fsencode(entry.name)
                    try:
                        user = username_of(raw.decode("ascii"))
                    except UnicodeDecodeError:
                        user = None
                    if user is None:
                        continue
                    targets.append(ScanTarget(user, area, os.path.join(root, raw)))
        finally:
            os.close(fd)
    targets.sort(key=lambda t: (t.user, t.area))
    return targets


def discover_team_targets(teams_root: bytes | str) -> list[ScanTarget]:
    """One TEAM target per team folder directly under `teams_root` (symlinks are never
    targets; a name that no consortium's `team_dir` rule makes is skipped), by name."""
    targets: list[ScanTarget] = []
    root = os.fsencode(teams_root)
    try:
        fd = open_dir(root)
    except FileNotFoundError:
        return targets
    try:
        with os.scandir(fd) as it:
            for entry in it:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                raw = os.fsencode(entry.name)
                try:
                    name = raw.decode("ascii")
                except UnicodeDecodeError:
                    continue
                if is_team_dir(name):
                    targets.append(ScanTarget(name, TEAM, os.path.join(root, raw)))
    finally:
        os.close(fd)
    targets.sort(key=lambda t: t.user)
    return targets


def scan_targets(
    targets: Iterable[ScanTarget],
    workers: int | None = None,
    progress: Callable[[RootUsage], None] | None = None,
    threads: int = 1,
) -> Iterator[RootUsage]:
    """Scan targets with `workers` processes (default: one per CPU), yielding as each finishes.

    `threads` > 1: scan that many targets at once on threads of this one process instead. On a
    local disk the walk is Python per entry and threads would share one GIL, so processes win;
    on EFS each stat waits milliseconds for the server with the GIL released, so threads
    overlap those waits at a fraction of a process's memory (bench/storage_shards.py).
    """
    todo = list(targets)
    if threads > 1 and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(min(threads, len(todo))) as pool:
            futures = [pool.submit(scan_root, t) for t in todo]
            for future in as_completed(futures):
                usage = future.result()
                if progress:
                    progress(usage)
                yield usage
        return
    n = workers or os.cpu_count() or 1
    if n <= 1 or len(todo) <= 1:
        for t in todo:
            usage = scan_root(t)
            if progress:
                progress(usage)
            yield usage
        return
    # Largest-first would need sizes we do not know yet; chunksize 1 keeps the workers balanced.
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(n, len(todo))) as pool:
        for usage in pool.imap_unordered(scan_root, todo, chunksize=1):
            if progress:
                progress(usage)
            yield usage


@dataclass(frozen=True, slots=True)
class UserTotals:
    user: str
    home: RootUsage | None
    scratch: RootUsage | None

    @property
    def home_bytes(self) -> int:
        return self.home.bytes_allocated if self.home else 0

    @property
    def scratch_bytes(self) -> int:
        return self.scratch.bytes_allocated if self.scratch else 0


def by_user(results: Iterable[RootUsage]) -> dict[str, UserTotals]:
    homes: dict[str, RootUsage] = {}
    scratches: dict[str, RootUsage] = {}
    for r in results:
        if r.area == TEAM:
            continue  # team folders are nobody's home: see `by_team`
        (homes if r.area == HOME else scratches)[r.user] = r
    return {u: UserTotals(u, homes.get(u), scratches.get(u)) for u in sorted({*homes, *scratches})}


def by_team(results: Iterable[RootUsage]) -> dict[str, RootUsage]:
    """The TEAM results by team_dir."""
    return {r.user: r for r in results if r.area == TEAM}
