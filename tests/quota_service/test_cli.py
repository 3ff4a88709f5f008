"""`nexus-quota` as a person runs it: a real process, messages and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def run(
    db_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", "--actor", "ops-alice", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NEXUS_QUOTA_DATABASE_URL": db_url, **(env or {})},
        timeout=120,
    )


def test_admin_workflow_and_audit(db_url: str) -> None:
    granted = run(db_url, "grant", "zoe", "research", "--reason", "pilot", "--json")
    assert granted.returncode == 0, granted.stderr
    alloc = json.loads(granted.stdout)
    assert alloc["tier"] == "research" and alloc["cpu_hours_budget"] == 20000
    extended = run(db_url, "extend", str(alloc["id"]), "--days", "30", "--reason", "x", "--json")
    assert extended.returncode == 0, extended.stderr
    created = run(
        db_url,
        "consortium",
        "create",
        "deep-field",
        "--cpu-hours",
        "100",
        "--home-soft-gib",
        "10",
        "--home-hard-gib",
        "20",
        "--term-days",
        "90",
        "--lead",
        "zoe",
    )
    assert created.returncode == 0, created.stderr
    added = run(db_url, "consortium", "add-member", "deep-field", "yan", "--share", "30")
    assert added.returncode == 0, added.stderr
    over = run(db_url, "consortium", "set-share", "deep-field", "yan", "150")
    assert over.returncode == 1 and "pool_exceeded" in over.stderr and "at most 100" in over.stderr
    shown = run(db_url, "users", "show", "yan", "--json")
    tiers = [a["tier"] for a in json.loads(shown.stdout)["allocations"]]
    assert tiers == ["entry", "consortium"]
    report = run(db_url, "report", "--json")
    assert report.returncode == 0 and "by_tier" in json.loads(report.stdout)
    expired = run(db_url, "expire", "--json")
    assert expired.returncode == 0 and json.loads(expired.stdout)["expired"] == []
    assert run(db_url, "revoke", str(alloc["id"]), "--reason", "done").returncode == 0
    listed = run(db_url, "requests", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["extend", "999", "--days", "3", "--reason", "x"], 1, "no allocation 999"),
        (["revoke", "999", "--reason", "x"], 1, "no allocation 999"),
        (["requests", "approve", "42"], 1, "no request #42"),
        (["users", "show", "nobody"], 1, "no user named 'nobody'"),
        (["grant", "zoe", "research", "--reason", "x", "--cpu-hours", "-5"], 2, "greater than 0"),
        (["grant", "zoe", "platinum", "--reason", "x"], 2, "platinum"),
        (["requests", "deny", "1", "--note", "  "], 2, "must say why"),
        (["consortium", "set-share", "nope", "zoe", "5"], 1, "no consortium named 'nope'"),
    ],
)
def test_errors_are_messages_with_exit_codes(
    db_url: str, args: list[str], code: int, message: str
) -> None:
    result = run(db_url, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_configuration_problems_exit_3(tmp_path: Path, db_url: str) -> None:
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("sizes: {}\n")
    result = run(db_url, "requests", "list", env={"NEXUS_QUOTA_POLICY_PATH": str(bad_policy)})
    assert result.returncode == 3 and "invalid tier policy" in result.stderr
    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    stale = run(empty, "requests", "list")
    assert stale.returncode == 3 and "nexus-quota db upgrade" in stale.stderr
    assert run(empty, "db", "check").returncode == 3
    assert run(empty, "db", "upgrade").returncode == 0
    assert run(empty, "db", "check").returncode == 0
    config = tmp_path / "config.yaml"
    config.write_text("database_url: sqlite:///x\n")
    secret = run(db_url, "requests", "list", env={"NEXUS_QUOTA_CONFIG": str(config)})
    assert secret.returncode == 3 and "secret" in secret.stderr
    config.write_text("bind_prot: 5\n")
    typo = run(db_url, "requests", "list", env={"NEXUS_QUOTA_CONFIG": str(config)})
    assert typo.returncode == 3 and "bind_prot" in typo.stderr


def test_input_the_api_models_refuse_is_a_usage_error_naming_the_field(db_url: str) -> None:
    """CLI input goes through the API's models; a refusal names the key, as everywhere else."""
    bad = run(db_url, "grant", "zoe", "research", "--reason", "pilot", "--term-days", "99999")
    assert bad.returncode == 2, bad.stderr
    assert "term_days: Input should be less than or equal to 3650" in bad.stderr
    assert "99999" not in bad.stderr.split("term_days:")[1]  # the value is not echoed back
