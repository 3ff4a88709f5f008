"""The purge planner: tier policy + a user's facts + now → decisions → manifests.

``decide`` is pure (no file system, no clock): it says which of a user's areas a run acts on and
why. ``plan_root`` walks one root with the safe walker and streams the chosen entries into a
manifest; it never changes a file.

Choices where the issue is silent (docs/storage.md repeats them):
- A file's *last use* is the newest of its atime, mtime and ctime. ctime cannot be set back by a
  user, so a tree just unpacked with old times (``tar``, ``cp -p``) is not taken for stale.
- Only regular files are deleted from scratch; directories and symlinks there are left.
- An inactive home is archived whole: regular files (uploaded), symlinks (their target is kept
  in the manifest) and then its emptied directories, deepest first. Other kinds (FIFOs,
  sockets, devices) are left in place, and so are the directories that hold them.
- A file with more than one hard link that the user does not own (``st_uid`` differs from the
  owner of the user's root) is never planned: it is another person's data linked in.
- Over quota, ``archive_lru`` archives the least recently used files (newest of atime and
  mtime) until the home is at or under its soft quota: whole days of use at a time, then walk
  order within the last day needed.
- Team folders (area ``team``): a removed consortium's folder is archived whole, like an
  inactive home (``decide_team``). A consortium pool's home quota is shared by its members'
  homes and its team folder (services/team_storage.py): over the shared hard quota, servers
  charged to the pool start in clean-up mode. The plan never archives one member's files for
  what the whole team stores: a home is archived over quota only against a quota it exceeds
  by itself.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..policy import OverQuotaAction, TierPolicy
from .manifest import (
    ARCHIVE,
    DELETE,
    HOME_ALLOCATION_ENDED,
    HOME_INACTIVE,
    OVER_QUOTA_LRU,
    RMDIR,
    SCRATCH_RETENTION,
    Entry,
    Header,
    ManifestWriter,
    archive_key,
)
from .scanner import HOME, SCRATCH, TEAM
from .walk import WalkReport, open_dir, rel_join, walk

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class UserFacts:
    """What the quota service knows about one user when it plans."""

    user: str
    tier: str
    last_login: datetime | None = None
    created: datetime | None = None
    # When the user's governing allocation ended (None: it has not ended).
    allocation_end: datetime | None = None
    home_bytes: int = 0
    soft_bytes: int | None = None
    hard_bytes: int | None = None
    # Since when the home has been over its soft quota (None: it is not).
    over_soft_since: datetime | None = None
    home_archived: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    user: str
    area: str
    reason: str
    retention_days: int = 0
    excess_bytes: int = 0
    why: str = ""


@dataclass(frozen=True, slots=True)
class Flag:
    """A consequence that is not a file action (clean-up mode), for notices and the spawner."""

    user: str
    kind: str
    why: str


def decide(facts: UserFacts, tier: TierPolicy, now: datetime) -> tuple[list[Decision], list[Flag]]:
    """Which areas of this user a run acts on, and why. Pure."""
    decisions = [
        Decision(
            facts.user,
            SCRATCH,
            SCRATCH_RETENTION,
            retention_days=tier.scratch_retention_days,
            why=f"scratch files not used for {tier.scratch_retention_days} days are deleted",
        )
    ]
    flags: list[Flag] = []
    if facts.home_archived:
        return decisions, flags
    seen = facts.last_login or facts.created
    if tier.home_archive_after_days is not None and seen is not None:
        if now - seen >= timedelta(days=tier.home_archive_after_days):
            decisions.append(
                Decision(
                    facts.user,
                    HOME,
                    HOME_INACTIVE,
                    why=f"no login since {seen:%Y-%m-%d} "
                    f"(more than {tier.home_archive_after_days} days)",
                )
            )
            return decisions, flags
    if tier.archive_after_allocation_end_days is not None and facts.allocation_end is not None:
        grace = timedelta(days=tier.archive_after_allocation_end_days)
        if now - facts.allocation_end >= grace:
            decisions.append(
                Decision(
                    facts.user,
                    HOME,
                    HOME_ALLOCATION_ENDED,
                    why=f"allocation ended {facts.allocation_end:%Y-%m-%d}, "
                    f"{tier.archive_after_allocation_end_days} days of grace have passed",
                )
            )
            return decisions, flags
    soft = facts.soft_bytes
    if soft is not None and facts.home_bytes > soft and facts.over_soft_since is not None:
        if now - facts.over_soft_since >= timedelta(days=tier.over_quota_grace_days):
            why = (
                f"home over its soft quota since {facts.over_soft_since:%Y-%m-%d}, "
                f"past {tier.over_quota_grace_days} days of grace"
            )
            if tier.over_quota_action == OverQuotaAction.archive_lru:
                decisions.append(
                    Decision(
                        facts.user,
                        HOME,
                        OVER_QUOTA_LRU,
                        excess_bytes=facts.home_bytes - soft,
                        why=why,
                    )
                )
            else:
                flags.append(Flag(facts.user, "cleanup_mode", why))
    return decisions, flags


def decide_team(team_dir: str, consortium: str, removed_at: datetime) -> Decision:
    """The decision for a removed consortium's team folder: archive it whole. Pure."""
    return Decision(
        team_dir,
        TEAM,
        HOME_ALLOCATION_ENDED,
        why=f"consortium {consortium} was removed on {removed_at:%Y-%m-%d}",
    )


@dataclass
class PlanStats:
    entries: int = 0
    files: int = 0
    bytes: int = 0
    excluded_foreign_links: int = 0
    report: WalkReport = field(default_factory=WalkReport)


def last_use_ns(st: os.stat_result) -> int:
    """When a file was last used, for deleting: ctime included, as no user can set it back."""
    return max(st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)


def recency_ns(st: os.stat_result) -> int:
    """The order of least recent use, for archiving over-quota files (reversible, so the
    conventional atime/mtime order; ctime would make every file just copied look new)."""
    return max(st.st_atime_ns, st.st_mtime_ns)


def root_header(
    decision: Decision,
    root: bytes,
    run_id: str,
    now_ns: int,
    not_before_ns: int,
    bucket: str | None = None,
    storage_class: str | None = None,
) -> Header:
    fd = open_dir(root)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return Header(
        run_id=run_id,
        user=decision.user,
        area=decision.area,
        root=root,
        root_dev=st.st_dev,
        root_ino=st.st_ino,
        root_uid=st.st_uid,
        reason=decision.reason,
        created_ns=now_ns,
        not_before_ns=not_before_ns,
        bucket=bucket,
        storage_class=storage_class,
    )


def plan_root(
    decision: Decision,
    writer: ManifestWriter,
    now_ns: int,
    prefix: str = "",
) -> PlanStats:
    """Walk the header's root and stream the entries `decision` selects into `writer`."""
    header = writer.header
    root = header.root
    stats = PlanStats()
    seq = 0

    def foreign(st: os.stat_result) -> bool:
        return st.st_nlink > 1 and st.st_uid != header.root_uid

    def emit(entry: Entry) -> None:
        nonlocal seq
        writer.add(entry)
        seq += 1
        stats.entries += 1
        if entry.kind == "file":
            stats.files += 1
            stats.bytes += entry.size

    def key(path: bytes) -> str:
        return archive_key(prefix, header.user, header.run_id, path)

    if decision.reason == SCRATCH_RETENTION:
        cutoff = now_ns - decision.retention_days * NS_PER_DAY
        for _fd, rel, name, st in walk(root, stats.report, include_dirs=False):
            if not stat.S_ISREG(st.st_mode) or last_use_ns(st) >= cutoff:
                continue
            if foreign(st):
                stats.excluded_foreign_links += 1
                continue
            emit(Entry.from_stat(seq, os.fsencode(rel_join(rel, name)), "file", DELETE, st))
    elif decision.reason in (HOME_INACTIVE, HOME_ALLOCATION_ENDED):
        dirs: list[tuple[int, bytes, os.stat_result]] = []
        for fd, rel, name, st in walk(root, stats.report, include_dirs=True):
            path = os.fsencode(rel_join(rel, name))
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                dirs.append((path.count(b"/"), path, st))
            elif stat.S_ISREG(mode):
                if foreign(st):
                    stats.excluded_foreign_links += 1
                    continue
                emit(Entry.from_stat(seq, path, "file", ARCHIVE, st, archive_key=key(path)))
            elif stat.S_ISLNK(mode):
                target = os.fsencode(os.readlink(name, dir_fd=fd))
                emit(Entry.from_stat(seq, path, "symlink", ARCHIVE, st, link_target=target))
        dirs.sort(key=lambda d: (-d[0], d[1]))
        for _depth, path, st in dirs:
            if path in stats.report.mount_points:
                continue  # not entered, so never emptied: and never the user's to remove
            emit(Entry.from_stat(seq, path, "dir", RMDIR, st))
    elif decision.reason == OVER_QUOTA_LRU:
        _plan_lru(decision, root, stats, emit, key, foreign, lambda: seq)
    else:
        raise ValueError(f"unknown reason {decision.reason!r}")
    return stats


def _plan_lru(
    decision: Decision,
    root: bytes,
    stats: PlanStats,
    emit: Callable[[Entry], None],
    key: Callable[[bytes], str],
    foreign: Callable[[os.stat_result], bool],
    seq: Callable[[], int],
) -> None:
    """Two passes in bounded memory: bytes per day of last use, then the files below a cutoff."""
    per_day: Counter[int] = Counter()
    for _fd, _rel, _name, st in walk(root, WalkReport(), include_dirs=False):
        if stat.S_ISREG(st.st_mode) and not foreign(st):
            per_day[recency_ns(st) // NS_PER_DAY] += st.st_blocks * 512
    need = decision.excess_bytes
    if need <= 0 or not per_day:
        return
    whole_days_below = None  # every file used before this day is taken
    acc = 0
    for day in sorted(per_day):
        if acc + per_day[day] >= need:
            whole_days_below = day
            break
        acc += per_day[day]
    if whole_days_below is None:
        whole_days_below = max(per_day) + 1
    taken = 0
    for _fd, rel, name, st in walk(root, stats.report, include_dirs=False):
        if not stat.S_ISREG(st.st_mode) or foreign(st):
            continue
        day = recency_ns(st) // NS_PER_DAY
        if day > whole_days_below:
            continue
        if day == whole_days_below:
            if acc + taken >= need:
                continue
            taken += st.st_blocks * 512
        path = os.fsencode(rel_join(rel, name))
        emit(Entry.from_stat(seq(), path, "file", ARCHIVE, st, archive_key=key(path)))
