"""`nexus-quota scan` and `nexus-quota purge …` as the CronJobs run them: real processes,
settings from the environment, JSON output and the documented exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .trees import layout, put

pytestmark = pytest.mark.integration


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_scan_and_purge_commands(db_url: str, tmp_path: Path) -> None:
    lay = layout(tmp_path / "efs", ["carol"])
    put(lay.scr("carol") / "old.dat", b"o" * 100, age_days=400)
    put(lay.home("carol") / "notes.txt", b"n" * 100)
    env = {
        "NEXUS_QUOTA_DATABASE_URL": db_url,
        "NEXUS_QUOTA_STORAGE_ROOT": str(lay.homes),
        "NEXUS_QUOTA_SCRATCH_ROOT": str(lay.scratch),
        "NEXUS_STORAGE_STATE_DIR": str(tmp_path / "state"),
    }
    grant = run(env, "grant", "carol", "entry", "--reason", "test", "--json")
    assert grant.returncode == 0, grant.stderr

    metrics = tmp_path / "scan.prom"
    scan = run(env, "scan", "--json", "--no-progress", "--metrics-file", str(metrics))
    assert scan.returncode == 0, scan.stderr
    report = json.loads(scan.stdout)
    assert report["users"] == 1 and report["errors"] == []
    assert 'nexus_storage_files{area="scratch",user="carol"} 1.0' in metrics.read_text()

    # The files' ctimes are now, so nothing is stale yet: the plan has nothing to act on.
    plan = run(env, "purge", "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    assert all(m["entries"] == 0 for m in json.loads(plan.stdout)["manifests"])

    dry = run(env, "purge", "execute", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True

    notify = run(env, "purge", "notify", "--dry-run", "--json")
    assert notify.returncode == 0, notify.stderr

    nothing = run(env, "purge", "restore", "carol")
    assert nothing.returncode == 1
    assert "nothing archived" in nothing.stderr

    shown = run(env, "purge", "show", "carol", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == []

    usage = run(env, "purge", "execute", "--bogus")
    assert usage.returncode == 2
