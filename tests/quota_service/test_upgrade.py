"""An upgrade as the chart runs it: the pre-upgrade Job migrates PostgreSQL while the old
release's pods still serve. The running `nexus-quota serve` is the old code: the migrations
added here are unknown to it, as the next release's would be."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chart.chartlib import by_kind, ci_values, pod_spec, render
from tests.support.databases import DatabaseFactory
from tests.support.migrations import NextRelease
from tests.support.processes import TEST_OUTPUT, ServerProcess, free_port
from tests.support.quota import PREFIX, QuotaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def old_release(databases: DatabaseFactory) -> Iterator[QuotaStack]:
    workdir = TEST_OUTPUT / "quota-upgrade"
    shutil.rmtree(workdir, ignore_errors=True)
    stack = QuotaStack.start(workdir, databases.new("postgresql"))
    try:
        yield stack
    finally:
        stack.stop()


def _decide(stack: QuotaStack, user: str, server: str) -> dict[str, object]:
    with stack.api(stack.hook_token) as hook:
        resp = hook.post(
            "hub/spawn-decisions", json={"username": user, "server_name": server, "size": "small"}
        )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_old_pods_stay_ready_through_expand_and_unready_after_contract(
    old_release: QuotaStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = old_release
    with stack.api(None) as api:
        ready = api.get("health").json()
        assert ready["schema_status"] == "current"
        code = ready["code_revision"]
    assert _decide(stack, "ada", "before")["allowed"] is True

    # The next release's pre-upgrade Job: an expand migration (a table, a nullable column).
    later = NextRelease(tmp_path_factory.mktemp("next-release"))
    expand = later.add(
        "expand",
        "op.create_table('user_badges', sa.Column('id', sa.Integer(), primary_key=True))\n"
        "    op.add_column('users', sa.Column('pronouns', sa.Text(), nullable=True))",
    )
    later.upgrade(stack.db_url)

    with stack.api(None) as api:
        resp = api.get("health")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["status"], body["schema_status"]) == ("ok", "compatible")
        assert (body["schema_revision"], body["code_revision"]) == (expand, code)
    # The old code keeps stopping, charging and deciding on the new schema (Entry: one
    # server at a time, so the first one stops first).
    with stack.api(stack.hook_token) as hook:
        stop = hook.post("hub/sessions/stop", json={"username": "ada", "server_name": "before"})
    assert stop.status_code == 200, stop.text
    assert len(stop.json()["closed"]) == 1
    after = _decide(stack, "ada", "after")
    assert after["allowed"] is True and after["session_id"]
    with stack.api(stack.hook_token) as hook:
        stop = hook.post("hub/sessions/stop", json={"username": "ada", "server_name": "after"})
    assert stop.status_code == 200, stop.text
    assert [c["session_id"] for c in stop.json()["closed"]] == [after["session_id"]]

    # A contract migration: the old code must leave the Service's endpoints, saying why,
    # while liveness (no database) keeps the pod from being restarted.
    contract = later.add("contract", "op.drop_column('users', 'pronouns')")
    later.upgrade(stack.db_url)
    with stack.api(None) as api:
        resp = api.get("health")
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert (body["status"], body["schema_status"]) == ("unavailable", "incompatible")
        assert body["schema_revision"] == contract
        assert f"serves code from {contract} on" in body["detail"]
        assert "deploy the newer release" in body["detail"]
        live = api.get("health/live")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})


def test_the_charts_liveness_probe_never_reads_the_database(tmp_path: Path) -> None:
    """The probes the chart renders, asked of a service whose database is gone: liveness
    answers (no restart loop during an outage or a migration), readiness does not."""
    deployment = by_kind(render(ci_values("minimal-values.yaml")), "Deployment")["nexus-quota"]
    (container,) = pod_spec(deployment)["containers"]
    live_path = container["livenessProbe"]["httpGet"]["path"]
    ready_path = container["readinessProbe"]["httpGet"]["path"]
    assert live_path != ready_path

    port, dead = free_port(), free_port()  # nothing listens on `dead`
    proc = ServerProcess(
        name="nexus-quota-no-db",
        argv=[sys.executable, "-m", "quota_service.cli.main", "serve", "--port", str(port)],
        log_path=tmp_path / "quota.log",
        env={
            "NEXUS_QUOTA_DATABASE_URL": f"postgresql+psycopg://nexus@127.0.0.1:{dead}/nexus",
            "NEXUS_QUOTA_FAIL_ON_STALE_SCHEMA": "false",
            "JUPYTERHUB_API_URL": f"http://127.0.0.1:{dead}/hub/api",
            "JUPYTERHUB_API_TOKEN": "unused",
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        },
    ).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}{live_path}", timeout=60)
        ready = httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=30)
        assert ready.status_code == 503, ready.text
        assert ready.json()["database"] == "unreachable"
    finally:
        proc.stop()
