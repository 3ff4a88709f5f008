"""Plan and execute helpers shared by the storage tests."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from quota_service.filesystem.executor import Archiver, ExecResult, execute
from quota_service.filesystem.journal import FileJournal
from quota_service.filesystem.manifest import (
    HOME_INACTIVE,
    SCRATCH_RETENTION,
    Entry,
    ManifestWriter,
    new_run_id,
    read_entries,
)
from quota_service.filesystem.planner import Decision, PlanStats, plan_root, root_header
from quota_service.filesystem.scanner import HOME, SCRATCH

from .trees import DAY_NS


def scratch_decision(user: str, days: int = 14) -> Decision:
    return Decision(user, SCRATCH, SCRATCH_RETENTION, retention_days=days)


def home_decision(user: str) -> Decision:
    return Decision(user, HOME, HOME_INACTIVE)


def plan(
    root: Path,
    decision: Decision,
    out: Path,
    *,
    now_ns: int | None = None,
    not_before_ns: int = 0,
    prefix: str = "archive/",
    bucket: str | None = None,
) -> tuple[Path, PlanStats]:
    now = now_ns if now_ns is not None else time.time_ns() + 30 * DAY_NS
    run_id = new_run_id(now)
    header = root_header(decision, os.fsencode(root), run_id, now, not_before_ns, bucket=bucket)
    writer = ManifestWriter(out / f"{decision.user}-{decision.area}.manifest.jsonl", header)
    stats = plan_root(decision, writer, now, prefix=prefix)
    return writer.close(), stats


def run(
    manifest: Path,
    *,
    dry_run: bool = False,
    archiver: Archiver | None = None,
    stop_after: int | None = None,
    now_ns: int | None = None,
) -> ExecResult:
    journal = FileJournal(manifest.with_suffix(".journal"))
    return execute(
        manifest,
        journal,
        dry_run=dry_run,
        archiver=archiver,
        stop_after=stop_after,
        now_ns=now_ns,
    )


def entries(manifest: Path) -> list[Entry]:
    return list(read_entries(manifest))


def paths(manifest: Path) -> set[bytes]:
    return {e.path for e in read_entries(manifest)}


def append_forged_entry(manifest: Path, rel: bytes, target: Path) -> None:
    """Append to `manifest` an entry for `rel` that matches `target` as it is now, as someone
    who can write the state directory would forge it."""
    lines = manifest.read_text().splitlines()
    st = os.lstat(target)
    forged = replace(
        Entry.from_line(lines[1]),
        seq=99,
        path=rel,
        parts=tuple(rel.split(b"/")),
        dev=st.st_dev,
        ino=st.st_ino,
        size=st.st_size,
        atime_ns=st.st_atime_ns,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
    )
    manifest.write_text("\n".join(lines) + "\n" + forged.to_line())
