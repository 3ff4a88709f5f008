"""Sharded scans: three real `nexus-quota scan` processes, one per shard, over one real tree
(homes, scratch, team folders) record exactly what one full scan records, the run is combined
once, and a shard run again replaces its rows instead of adding to them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub_config.userdirs import directory_name
from quota_service.config import Settings, TeamSettings
from quota_service.factory import Factory
from quota_service.filesystem.shards import Shard, shard_of
from quota_service.schema import AuditEvent, Consortium, StorageUsageSnapshot, User
from quota_service.schema.scan_run import ScanRun, ScanShard
from quota_service.schema.team_usage import TeamOwnerUsage, TeamUsageSnapshot

from .trees import Layout, layout, put

pytestmark = pytest.mark.integration

PEOPLE = [f"user{i:02d}" for i in range(12)]
TEAMS = ["lab-a", "lab-b", "lab-c", "lab-d"]
SHARDS = 3


@dataclass
class Tree:
    factory: Factory
    lay: Layout
    teams_root: Path
    env: dict[str, str]
    team_dirs: list[str]


@pytest.fixture
def tree(tmp_path: Path, db_url: str) -> Iterator[Tree]:
    lay = layout(tmp_path / "efs", [*PEOPLE, "stranger"])  # stranger: a directory, no user
    teams_root = tmp_path / "efs" / "teams"
    teams_root.mkdir()
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        teams=TeamSettings(root=teams_root),
    )
    factory = Factory(settings)
    team_dirs: list[str] = []
    try:
        with factory.unit_of_work() as svc:
            for name in PEOPLE:
                svc.users.ensure(name)
            for n, team in enumerate(TEAMS):
                view = svc.consortia.create(
                    "admin",
                    name=team,
                    proposal_ref=None,
                    cpu_hours=100,
                    home_quota_soft_gib=1.0,
                    home_quota_hard_gib=2.0,
                    term_days=365,
                    leads=[PEOPLE[n]],
                    reason="test",
                )
                team_dirs.append(svc.teams.identity(svc.consortia._get(view.id))[0])
        for i, name in enumerate([*PEOPLE, "stranger"]):
            home = lay.home(name)
            for d in range(i % 4 + 1):
                put(home / f"d{d}" / "sub" / f"f{d}.dat", b"h" * (1000 * (i + 1) + d))
            put(home / "notes.txt", b"n" * (i + 1))
            if i % 3 == 0:
                os.link(home / "notes.txt", home / "notes-link.txt")  # counted once
                os.symlink("/etc", home / "etc-link")  # never followed
            if i % 2 == 0:
                put(lay.scr(name) / "big" / "run.out", b"s" * (5000 * (i + 1)))
        for n, team_dir in enumerate(team_dirs):
            put(teams_root / team_dir / "shared" / "data.bin", b"t" * (7000 * (n + 1)))
        env = {
            "NEXUS_QUOTA_DATABASE_URL": db_url,
            "NEXUS_QUOTA_STORAGE_ROOT": str(lay.homes),
            "NEXUS_QUOTA_SCRATCH_ROOT": str(lay.scratch),
            "NEXUS_QUOTA_TEAMS__ROOT": str(teams_root),
            "NEXUS_STORAGE_STATE_DIR": str(tmp_path / "state"),
        }
        yield Tree(factory, lay, teams_root, env, team_dirs)
    finally:
        factory.dispose()


def scan_cmd(env: dict[str, str], *args: str, index: int | None = None) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if k != "JOB_COMPLETION_INDEX"} | env
    if index is not None:
        full["JOB_COMPLETION_INDEX"] = str(index)  # as Kubernetes sets it in an Indexed Job
    return subprocess.Popen(
        [sys.executable, "-m", "quota_service.cli.main", "scan", "--json", "--no-progress", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def figures(t: Tree, run_id: str) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """The users' and team folders' snapshots that the run's shards wrote, by name."""
    with t.factory.unit_of_work() as svc:
        s = svc.ctx.session
        stamps = list(s.scalars(select(ScanShard.measured_at).where(ScanShard.run_id == run_id)))
        users = {
            name: (
                snap.home_bytes,
                snap.home_files,
                snap.scratch_bytes,
                snap.scratch_files,
                snap.newest_mtime,
                snap.over_soft,
            )
            for snap, name in s.execute(
                select(StorageUsageSnapshot, User.username)
                .join(User, User.id == StorageUsageSnapshot.user_id)
                .where(StorageUsageSnapshot.measured_at.in_(stamps))
            )
        }
        n_user_rows = s.scalar(
            select(func.count())
            .select_from(StorageUsageSnapshot)
            .where(StorageUsageSnapshot.measured_at.in_(stamps))
        )
        assert n_user_rows == len(users), "one snapshot per user and run"
        teams: dict[str, tuple[Any, ...]] = {}
        for snap, team_dir in s.execute(
            select(TeamUsageSnapshot, Consortium.team_dir)
            .join(Consortium, Consortium.id == TeamUsageSnapshot.consortium_id)
            .where(TeamUsageSnapshot.measured_at.in_(stamps))
        ):
            owners = sorted(
                (o.uid, o.bytes, o.files)
                for o in s.scalars(
                    select(TeamOwnerUsage).where(TeamOwnerUsage.snapshot_id == snap.id)
                )
            )
            assert str(team_dir) not in teams, "one snapshot per team folder and run"
            teams[str(team_dir)] = (snap.bytes, snap.files, snap.issues, tuple(owners))
        return users, teams


def test_three_shard_processes_record_what_one_full_scan_records(tree: Tree) -> None:
    # The tree really is split: every shard has people and the team folders are spread too.
    by_shard = {
        i: [p for p in PEOPLE if shard_of(directory_name(p), SHARDS) == i] for i in range(3)
    }
    assert all(by_shard.values()), by_shard
    assert len({shard_of(d, SHARDS) for d in tree.team_dirs}) > 1

    full = finish(scan_cmd(tree.env, "--run-id", "full-1"))
    assert full["run"]["complete"] and full["shard"] == {"index": 0, "count": 1}

    procs = [
        scan_cmd(tree.env, "--shard-count", "3", "--run-id", "cron-1", index=i)
        for i in range(SHARDS)
    ]
    reports = [finish(p) for p in procs]
    assert sorted(r["shard"]["index"] for r in reports) == [0, 1, 2]
    # Each shard measured only its own directories; together, every target once.
    assert sum(r["targets"] for r in reports) == full["targets"]
    assert sum(r["users"] for r in reports) == full["users"]
    assert sorted(u for r in reports for u in r["unknown_directories"]) == ["stranger"]
    assert sum(len(r["teams"]) for r in reports) == len(TEAMS)
    # Exactly one shard saw the run complete and inserted its row.
    assert [r["run"]["completed_now"] for r in reports].count(True) == 1

    shard_users, shard_teams = figures(tree, "cron-1")
    full_users, full_teams = figures(tree, "full-1")
    assert len(full_users) == len(PEOPLE) and len(full_teams) == len(TEAMS)
    assert shard_users == full_users
    assert shard_teams == full_teams

    # Shard 1 runs again (a retried pod): its rows are replaced, never added.
    again = finish(scan_cmd(tree.env, "--shard-count", "3", "--run-id", "cron-1", index=1))
    assert again["run"] == {
        "run_id": "cron-1",
        "shard_count": 3,
        "shards_done": 3,
        "complete": True,
        "completed_now": False,
    }
    assert figures(tree, "cron-1") == (full_users, full_teams)
    with tree.factory.unit_of_work() as svc:
        s = svc.ctx.session
        assert s.scalar(select(ScanShard.attempts).where(ScanShard.shard_index == 1)) == 2
        runs = s.execute(select(ScanRun.run_id, ScanRun.users, ScanRun.teams)).all()
        assert sorted(runs) == [("cron-1", len(PEOPLE) + 1, len(TEAMS)), ("full-1", 13, 4)]
        combined = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "storage.scan", AuditEvent.target_id == "cron-1")
        )
        assert combined == 1


def test_combine_waits_for_every_shard_and_bad_shards_are_refused(tree: Tree) -> None:
    first = finish(scan_cmd(tree.env, "--shard-count", "3", "--run-id", "r2", "--shard-index", "2"))
    assert first["run"]["complete"] is False and first["run"]["shards_done"] == 1
    waiting = scan_cmd(tree.env, "--shard-count", "3", "--run-id", "r2", "--combine")
    out, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 5 and json.loads(out)["shards_done"] == 1

    for args, index, message in [
        (["--shard-count", "3"], 0, "--run-id"),
        (["--shard-count", "3", "--run-id", "x"], 3, "shard index must be in 0..2"),
        (["--shard-count", "0", "--run-id", "x"], 0, "--shard-count"),
    ]:
        bad = scan_cmd(tree.env, *args, index=index)
        _, err = bad.communicate(timeout=300)
        assert bad.returncode == 2 and message in err, err
    not_a_number = subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", "scan", "--shard-count", "3"],
        capture_output=True,
        text=True,
        env={**os.environ, **tree.env, "JOB_COMPLETION_INDEX": "one"},
        timeout=300,
    )
    assert not_a_number.returncode == 2
    # --shard-index reads JOB_COMPLETION_INDEX; click names the option and the bad value.
    assert "'--shard-index': 'one' is not a valid integer" in not_a_number.stderr


def test_the_shard_of_a_name_is_stable_and_spread() -> None:
    # sha256, not Python's salted hash(): the same in every process and release.
    assert [shard_of(f"user{i:02d}", 3) for i in range(6)] == [
        shard_of(os.fsencode(f"user{i:02d}"), 3) for i in range(6)
    ]
    counts = [0, 0, 0, 0]
    for i in range(4000):
        counts[shard_of(f"person-{i}", 4)] += 1
    assert all(900 < c < 1100 for c in counts), counts
    assert Shard(0, 1).holds("anything") and not Shard(1, 2).holds("x") == Shard(0, 2).holds("x")


def test_threads_measure_what_worker_processes_measure(tmp_path: Path) -> None:
    from quota_service.filesystem.scanner import discover_targets, scan_targets

    lay = layout(tmp_path / "efs", PEOPLE)
    for i, name in enumerate(PEOPLE):
        put(lay.home(name) / "a" / "b" / "f.dat", b"x" * (3000 * (i + 1)))
        os.link(lay.home(name) / "a" / "b" / "f.dat", lay.home(name) / "hard.dat")
        os.symlink("/etc", lay.home(name) / "etc-link")
        put(lay.scr(name) / "s.dat", b"s" * (i + 1))
    targets = discover_targets(os.fsencode(lay.homes), os.fsencode(lay.scratch))

    def key(u: Any) -> tuple[Any, ...]:
        return (u.user, u.area, u.bytes_allocated, u.bytes_apparent, u.files, u.dirs, u.issues)

    by_process = sorted(key(u) for u in scan_targets(targets, workers=2))
    by_thread = sorted(key(u) for u in scan_targets(targets, threads=8))
    assert by_thread == by_process and len(by_thread) == 2 * len(PEOPLE)
