"""`nexus-quota reconcile` against a real hub and the real quota service's database.

The job runs as a process with the `quota-jobs` token and the hub roles hub_config gives it.
Limits are made tiny with a policy file given to the job only (the policy is not stored in the
database), so no test waits for hours: the clock is real, the limits are short.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from quota_service.policy.loader import default_policy_text
from tests.support.oidc import OidcProvider, OidcUser
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import start_quota_service

from .stack import NexusStack, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    """This module's stack: a spawn holds back almost nothing of a budget (the service's
    `spawn_reservation_hours`), so a tiny budget still lets a server start and run out."""
    workdir = TEST_OUTPUT / "hub_config" / "reconcile"
    shutil.rmtree(workdir, ignore_errors=True)
    st = start_stack(
        workdir, oidc_provider, quota_env={"NEXUS_QUOTA_SPAWN_RESERVATION_HOURS": "0.000001"}
    )
    try:
        yield st
    finally:
        st.stop()


def _policy(tmp_path: Path, **entry: float) -> Path:
    doc = yaml.safe_load(default_policy_text())
    doc["tiers"]["entry"].update(entry)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def reconcile(stack: NexusStack, *args: str, policy: Path | None = None) -> dict[str, Any]:
    env = {
        "NEXUS_QUOTA_DATABASE_URL": stack.db_url,
        "NEXUS_QUOTA_JOBS_TOKEN": stack.tokens["jobs"],
        "JUPYTERHUB_API_URL": stack.hub.api_url,
        "PATH": "/usr/bin:/bin",
    }
    if policy is not None:
        env["NEXUS_QUOTA_POLICY_PATH"] = str(policy)
    proc = subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", "reconcile", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _actions(report: dict[str, Any], user: str) -> list[tuple[str, str]]:
    return [(a["action"], a["reason"]) for a in report["actions"] if a["username"] == user]


def _spawn_small(stack: NexusStack, user: str) -> None:
    browser = stack.login(user)
    resp = stack.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready(user)


def test_closes_orphans_and_charges_running_sessions(stack: NexusStack) -> None:
    _spawn_small(stack, "ellen")
    try:
        # A session whose server the hub never ran (as if a stop was missed).
        hook = stack.hub.api(stack.tokens["hook"])
        decision = hook.post(
            stack.quota_api_url + "hub/spawn-decisions",
            json={"username": "rosa", "server_name": "ghost", "size": "small"},
        ).json()
        assert decision["allowed"] is True

        report = reconcile(stack, "--orphan-grace-seconds", "0")
        assert ("closed_orphan", "the hub has no such server") in _actions(report, "rosa")
        assert _actions(report, "ellen") == []
        assert report["cpu_hours_charged"] > 0
        open_now = {(s["username"], s["server_name"]): s for s in stack.open_sessions()}
        assert ("rosa", "ghost") not in open_now
        ellen = open_now[("ellen", "")]
        assert ellen["charged_until"] > ellen["started_at"]
        assert ellen["cpu_hours_charged"] > 0
        assert stack.server("ellen") is not None
    finally:
        stack.stop_server("ellen")


def test_a_young_session_without_a_server_is_not_an_orphan_yet(stack: NexusStack) -> None:
    hook = stack.hub.api(stack.tokens["hook"])
    hook.post(
        stack.quota_api_url + "hub/spawn-decisions",
        json={"username": "rosa", "server_name": "starting", "size": "small"},
    ).raise_for_status()
    report = reconcile(stack, "--orphan-grace-seconds", "600")
    assert _actions(report, "rosa") == []
    assert ("rosa", "starting") in {
        (s["username"], s["server_name"]) for s in stack.open_sessions()
    }
    report = reconcile(stack, "--orphan-grace-seconds", "0")
    assert ("closed_orphan", "the hub has no such server") in _actions(report, "rosa")


def test_warns_then_stops_a_server_past_the_maximum_session_length(
    stack: NexusStack, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, max_session_hours=1e-6, idle_cull_hours=1000.0)
    _spawn_small(stack, "ellen")
    try:
        first = reconcile(stack, "--grace-minutes", "0", policy=policy)
        assert _actions(first, "ellen") == [("warned", "over_limit")]
        assert stack.server("ellen") is not None
        me = stack.quota_admin().get("admin/users/ellen").json()
        assert any("will be stopped soon" in n["message"] for n in me["notices"])

        second = reconcile(stack, "--grace-minutes", "0", policy=policy)
        assert _actions(second, "ellen") == [("stopped", "max_session")]
        stack.wait_gone("ellen")
        assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]
    finally:
        if stack.server("ellen") is not None:
            stack.stop_server("ellen")


def test_warning_waits_for_the_grace_period_before_stopping(
    stack: NexusStack, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, max_session_hours=1e-6, idle_cull_hours=1000.0)
    _spawn_small(stack, "ellen")
    try:
        assert _actions(reconcile(stack, policy=policy), "ellen") == [("warned", "over_limit")]
        # Default grace: 15 minutes after the warning; nothing happens before.
        assert _actions(reconcile(stack, policy=policy), "ellen") == []
        assert stack.server("ellen") is not None
    finally:
        stack.stop_server("ellen")


def test_stops_servers_idle_longer_than_their_tier_allows(
    stack: NexusStack, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, idle_cull_hours=1e-6)
    _spawn_small(stack, "ellen")
    try:
        report = reconcile(stack, policy=policy)
        assert _actions(report, "ellen") == [("stopped", "idle")]
        stack.wait_gone("ellen")
        assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]
    finally:
        if stack.server("ellen") is not None:
            stack.stop_server("ellen")


def test_warns_then_stops_a_server_past_its_allocations_budget(stack: NexusStack) -> None:
    stack.provider.set_user(OidcUser("bud", groups=["myst-users"]))
    browser = stack.login("bud")
    grant = stack.quota_admin().post(
        "admin/allocations",
        json={"username": "bud", "tier": "research", "cpu_hours": 0.00001, "reason": "test"},
    )
    assert grant.status_code == 201, grant.text
    research = str(grant.json()["id"])
    resp = stack.spawn(browser, {"profile": "large", "profile-option-large--allocation": research})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("bud")
    try:
        first = reconcile(stack, "--grace-minutes", "0")
        assert _actions(first, "bud") == [("warned", "over_limit")]
        second = reconcile(stack, "--grace-minutes", "0")
        assert _actions(second, "bud") == [("stopped", "budget")]
        stack.wait_gone("bud")
        me = stack.quota_admin().get("admin/users/bud").json()
        spent = next(a for a in me["allocations"] if a["id"] == int(research))
        assert spent["cpu_hours_used"] >= 0.00001
    finally:
        if stack.server("bud") is not None:
            stack.stop_server("bud")


# -- servers started fail-open are adopted ------------------------------------------------
@pytest.fixture(scope="module")
def open_stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    """A hub in fail mode "open", with the quota service it can lose and get back."""
    workdir = TEST_OUTPUT / "hub_config" / "reconcile-fail-open"
    shutil.rmtree(workdir, ignore_errors=True)
    st = start_stack(workdir, oidc_provider, fail_mode="open")
    try:
        yield st
    finally:
        st.stop()


def _restart_quota(stack: NexusStack) -> None:
    assert stack.quota is not None
    stack.quota.stop()
    stack.quota = None
    restarted = stack.workdir / "restarted"
    restarted.mkdir(exist_ok=True)
    stack.quota = start_quota_service(
        restarted,
        stack.db_url,
        port=urlsplit(stack.quota_url).port or 0,
        hub_api_url=stack.hub.api_url,
        token=stack.tokens["quota"],
    )


def _utc(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def test_a_server_started_fail_open_is_adopted_charged_and_held_to_its_limits(
    open_stack: NexusStack, tmp_path: Path
) -> None:
    stack = open_stack
    browser = stack.login("ellen")
    assert stack.quota is not None
    stack.quota.stop()  # the quota service goes down; the hook fails open
    resp = stack.spawn(browser, {"profile": "small"})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("ellen")
    try:
        assert stack.server_env("ellen")["NEXUS_ALLOCATION_ID"] == "none"
        _restart_quota(stack)

        listed = reconcile(stack, "--no-adopt")
        assert listed["untracked_servers"] == ["ellen/"]
        assert _actions(listed, "ellen") == []
        assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]

        adopted = reconcile(stack)
        assert _actions(adopted, "ellen") == [("adopted", "fail_open")]
        assert adopted["untracked_servers"] == []
        assert adopted["cpu_hours_charged"] > 0
        (session,) = [s for s in stack.open_sessions() if s["username"] == "ellen"]
        server = stack.server("ellen")
        assert server is not None
        # Charged from the server's real start, on the Entry allocation, at the hub's size.
        assert _utc(session["started_at"]) == _utc(server["started"])
        assert _utc(session["charged_until"]) > _utc(session["started_at"])
        assert (session["tier"], session["size"]) == ("entry", "small")
        assert session["cpu_hours_charged"] > 0
        me = stack.quota_admin().get("admin/users/ellen").json()
        assert any("started while the quota service was" in n["message"] for n in me["notices"])
        entry = next(a for a in me["allocations"] if a["id"] == session["allocation_id"])
        assert entry["cpu_hours_used"] >= session["cpu_hours_charged"]

        # Held to the tier's limits from now on: past the maximum session, warned then stopped.
        policy = _policy(tmp_path, max_session_hours=1e-6, idle_cull_hours=1000.0)
        warned = reconcile(stack, "--grace-minutes", "0", policy=policy)
        assert _actions(warned, "ellen") == [("warned", "over_limit")]
        stopped = reconcile(stack, "--grace-minutes", "0", policy=policy)
        assert _actions(stopped, "ellen") == [("stopped", "max_session")]
        stack.wait_gone("ellen")
        assert not [s for s in stack.open_sessions() if s["username"] == "ellen"]
    finally:
        if stack.server("ellen") is not None:
            stack.stop_server("ellen")


def test_an_unknown_adopt_size_is_refused_naming_the_option(open_stack: NexusStack) -> None:
    env = {
        "NEXUS_QUOTA_DATABASE_URL": open_stack.db_url,
        "NEXUS_QUOTA_JOBS_TOKEN": open_stack.tokens["jobs"],
        "JUPYTERHUB_API_URL": open_stack.hub.api_url,
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", "reconcile", "--adopt-size", "huge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "adopt size 'huge' is not a size of the policy" in proc.stderr
