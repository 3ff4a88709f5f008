"""`nexus-quota teams list|sync` as the chart's CronJob and make dev run it: a real process,
settings from the environment, JSON output and the documented exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from quota_service.config import Settings
from quota_service.factory import Factory
from quota_service.filesystem.teams import TEAM_MODE

pytestmark = pytest.mark.integration


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def consortia(db_url: str, names: list[str]) -> None:
    factory = Factory(Settings(database_url=db_url, teams={"provision_on_create": False}))
    try:
        for i, name in enumerate(names):
            with factory.unit_of_work() as svc:
                svc.consortia.create(
                    "root",
                    name=name,
                    proposal_ref=None,
                    cpu_hours=10,
                    home_quota_soft_gib=1,
                    home_quota_hard_gib=2,
                    term_days=30,
                    leads=[f"lead{i}"],
                    reason="test",
                )
    finally:
        factory.dispose()


def test_teams_sync_makes_every_folder_and_reports_refusals(db_url: str, tmp_path: Path) -> None:
    consortia(db_url, ["Galaxy Evolution", "wfi-cal", "exo"])
    root = tmp_path / "efs" / "teams"
    env = {
        "NEXUS_QUOTA_DATABASE_URL": db_url,
        "NEXUS_QUOTA_TEAMS__ROOT": str(root),
    }
    listed = run(env, "teams", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    teams = json.loads(listed.stdout)
    assert [t["name"] for t in teams] == ["Galaxy Evolution", "wfi-cal", "exo"]
    assert [t["gid"] - 60000 for t in teams] == [1, 2, 3]
    dirs = [t["team_dir"] for t in teams]
    assert dirs[1:] == ["wfi-cal", "exo"] and dirs[0].startswith("galaxy-evolution-")

    missing = run(env, "teams", "sync")
    assert missing.returncode == 3 and "does not exist" in missing.stderr

    first = run(env, "teams", "sync", "--create-root", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert [(t["team_dir"], t["action"]) for t in report["teams"]] == [(d, "created") for d in dirs]
    for t in teams:
        st = os.lstat(root / t["team_dir"])
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, t["gid"], TEAM_MODE)

    # Idempotent; a team folder replaced by a link is refused (exit 5), the others kept.
    os.rmdir(root / "exo")
    (root / "exo").symlink_to(tmp_path)
    again = run(env, "teams", "sync", "--json")
    assert again.returncode == 5, again.stderr
    report = json.loads(again.stdout)
    assert [t["action"] for t in report["teams"]] == ["ok", "ok"]
    assert len(report["refused"]) == 1 and "symbolic link" in report["refused"][0]
    assert stat.S_IMODE(os.lstat(tmp_path).st_mode) != TEAM_MODE
