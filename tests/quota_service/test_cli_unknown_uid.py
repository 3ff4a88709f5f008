"""The CLI runs as a uid its image's passwd does not list, as in the chart's pods."""

from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.databases import DatabaseFactory

pytestmark = pytest.mark.integration
UID = 54_321  # in no passwd file


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_cli_records_the_uid_when_no_login_name_exists(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        pwd.getpwuid(UID)
    # pytest's own temporary folders are root's 0700: the other uid works in one of its own.
    work = Path(tempfile.mkdtemp(prefix="nexus-uid-"))
    db = work / "q.sqlite"
    shutil.copy(DatabaseFactory(tmp_path).new("sqlite").removeprefix("sqlite:///"), db)
    os.chown(work, UID, UID)
    os.chown(db, UID, UID)
    env = {
        "PATH": os.environ["PATH"],
        "NEXUS_QUOTA_DATABASE_URL": f"sqlite:///{db}",
    }
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "quota_service.cli.main", "grant", "ada", "research"]
    cmd += ["--reason", "pilot"]
    done = subprocess.run(
        ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        actors = {row[0] for row in conn.execute("SELECT actor FROM audit_events")}
    shutil.rmtree(work)
    assert f"cli:uid:{UID}" in actors
