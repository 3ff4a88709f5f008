"""`nexus-quota consortium remove` as an operator runs it: a real process, messages and exit
codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from .test_cli import run

pytestmark = pytest.mark.integration


def test_remove_a_consortium_then_again_then_one_that_does_not_exist(db_url: str) -> None:
    created = run(
        db_url,
        "consortium",
        "create",
        "gone-soon",
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
    assert run(db_url, "consortium", "add-member", "gone-soon", "yan").returncode == 0
    removed = run(db_url, "consortium", "remove", "gone-soon", "--reason", "ended", "--json")
    assert removed.returncode == 0, removed.stderr
    view = json.loads(removed.stdout)
    assert view["removed_at"] and view["members"] == [] and view["pool"]["status"] == "revoked"
    shown = run(db_url, "users", "show", "yan", "--json")
    statuses = {a["tier"]: a["status"] for a in json.loads(shown.stdout)["allocations"]}
    assert statuses == {"entry": "active", "consortium": "revoked"}
    again = run(db_url, "consortium", "remove", "gone-soon", "--reason", "ended")
    assert again.returncode == 1 and "already_removed" in again.stderr
    missing = run(db_url, "consortium", "remove", "nope", "--reason", "x")
    assert missing.returncode == 1 and "no consortium named 'nope'" in missing.stderr
    blank = run(db_url, "consortium", "remove", "gone-soon", "--reason", "  ")
    assert blank.returncode == 2 and "must say why" in blank.stderr
    for result in (again, missing, blank):
        assert "Traceback" not in result.stderr
