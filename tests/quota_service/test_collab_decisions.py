"""Team collaboration servers in the ledger: a team user's spawn decision charges its
consortium's pool and nothing else; a person cannot charge another team's pool through it;
over HTTP against the real service and hub, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from hub_config.collab import team_username
from tests.support.consortia import create_consortium
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import quota_admin_token

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_team_users_decision_charges_only_its_pool(stack: QuotaStack) -> None:
    lead, member, outsider = _name("lead"), _name("mem"), _name("out")
    with stack.api(quota_admin_token(stack, _name("adm"))) as adm:
        team = _name("team")  # a plain lowercase name: its own team folder name
        cid = create_consortium(adm, team, [lead], cpu_hours=40)
        added = adm.post(f"consortia/{cid}/members", json={"username": member})
        assert added.status_code == 201, added.text
        view = added.json()
        pool_id = view["pool"]["id"]
        other = create_consortium(adm, _name("other"), [outsider], cpu_hours=40)
        other_pool = adm.get(f"consortia/{other}").json()["pool"]["id"]
    team_user = team_username(team)
    with stack.api(stack.hook_token) as hook:
        # The team user's server: charged to the pool, at a size its tier allows.
        body = {"username": team_user, "server_name": "", "size": "small"}
        allowed = hook.post("hub/spawn-decisions", json=body)
        assert allowed.status_code == 200, allowed.text
        decision = allowed.json()
        assert decision["allowed"] is True, decision
        assert decision["allocation_id"] == pool_id
        assert decision["tier"] == "consortium"
        # It mounts its own team's folder, as the members' servers do.
        assert [(t["name"], t["team_dir"]) for t in decision["teams"]] == [(team, team)]
        # Choosing another team's pool, or any other allocation, is refused.
        theirs = hook.post("hub/spawn-decisions", json={**body, "allocation_id": other_pool})
        assert theirs.json()["allowed"] is False
        assert theirs.json()["code"] == "not_your_allocation"
        # A team user whose consortium does not exist has nothing to charge.
        ghost = {**body, "username": team_username("no-such-team")}
        refused = hook.post("hub/spawn-decisions", json=ghost).json()
        assert refused["allowed"] is False and refused["code"] == "allocation_not_active"
        # Closing it charges the pool.
        closed = hook.post("hub/sessions/stop", json={"username": team_user, "server_name": ""})
        assert closed.status_code == 200, closed.text
        assert [c["session_id"] for c in closed.json()["closed"]] == [decision["session_id"]]
    with stack.api(stack.user_token(lead)) as api:
        pool = api.get(f"consortia/{cid}").json()["pool"]
        assert pool["cpu_hours_used"] == pytest.approx(closed.json()["closed"][0]["cpu_hours"])
        # A person outside the team cannot start, see or stop its server.
    with stack.api(stack.user_token(outsider)) as api:
        for method in ("get", "post", "delete"):
            resp = getattr(api, method)(f"consortia/{cid}/collab")
            assert resp.status_code == 403, resp.text
            assert resp.json()["code"] == "not_a_member"
