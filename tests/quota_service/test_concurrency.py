"""Real concurrent requests against the service on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from quota_service.policy import default_policy_text
from tests.support.databases import DatabaseFactory
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import quota_admin_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]
JUSTIFICATION = "Galaxy cluster weak lensing; needs large servers for the HLWAS season."


@pytest.fixture(scope="module")
def pg_stack(databases: DatabaseFactory) -> Iterator[QuotaStack]:
    # Research may run many servers here, so only the CPU-hour budget limits the race.
    policy = yaml.safe_load(default_policy_text())
    policy["tiers"]["research"]["max_concurrent_servers"] = 100
    workdir = Path(TEST_OUTPUT) / "quota-concurrency"
    workdir.mkdir(parents=True, exist_ok=True)
    policy_path = workdir / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    stack = QuotaStack.start(
        workdir, databases.new("postgresql"), env={"NEXUS_QUOTA_POLICY_PATH": str(policy_path)}
    )
    try:
        yield stack
    finally:
        stack.stop()


def test_two_admins_approving_one_request_yield_one_allocation(pg_stack: QuotaStack) -> None:
    user = f"race-{uuid.uuid4().hex[:6]}"
    admins = [quota_admin_token(pg_stack, f"admin-{i}-{user}") for i in range(8)]
    with pg_stack.api(pg_stack.user_token(user)) as me:
        req = me.post("me/requests", json={"tier": "research", "justification": JUSTIFICATION})
        req_id = req.json()["id"]

    def approve(token: str) -> int:
        with pg_stack.api(token) as api:
            return api.post(f"admin/requests/{req_id}/approve", json={"note": "go"}).status_code

    with ThreadPoolExecutor(len(admins)) as pool:
        statuses = sorted(pool.map(approve, admins))
    assert statuses == [200] + [409] * (len(admins) - 1)
    with pg_stack.api(pg_stack.user_token(user)) as me:
        research = [a for a in me.get("me").json()["allocations"] if a["tier"] == "research"]
    assert len(research) == 1


def test_racing_spawns_never_overdraw_the_last_cpu_hours(pg_stack: QuotaStack) -> None:
    user = f"spawner-{uuid.uuid4().hex[:6]}"
    admin = quota_admin_token(pg_stack, f"granter-{user}")
    with pg_stack.api(admin) as adm:
        granted = adm.post(
            "admin/allocations",
            json={"username": user, "tier": "research", "cpu_hours": 20, "reason": "race test"},
        )
        assert granted.status_code == 201, granted.text
        alloc_id = granted.json()["id"]

    def spawn(i: int) -> dict[str, object]:
        with pg_stack.api(pg_stack.hook_token) as hook:
            body = {
                "username": user,
                "server_name": f"s{i}",
                "size": "small",
                "allocation_id": alloc_id,
            }
            resp = hook.post("hub/spawn-decisions", json=body)
            assert resp.status_code == 200, resp.text
            return dict(resp.json())

    with ThreadPoolExecutor(30) as pool:
        decisions = list(pool.map(spawn, range(30)))
    allowed = [d for d in decisions if d["allowed"]]
    # A small server holds 2 CPU-hours (2 CPU x 1 h) while it runs: 20 CPU-hours admit 10.
    assert len(allowed) == 10
    assert {d["code"] for d in decisions if not d["allowed"]} == {"cpu_hours_exhausted"}
    with pg_stack.api(pg_stack.hook_token) as hook:
        open_here = [s for s in hook.get("hub/sessions").json() if s["allocation_id"] == alloc_id]
    assert len(open_here) == 10
