"""The JSON API over HTTP: a real `nexus-quota serve` process and a real JupyterHub for tokens."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.consortia import create_consortium
from tests.support.databases import PG_ADMIN_URL, DatabaseFactory
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import quota_admin_token

pytestmark = pytest.mark.integration
JUSTIFICATION = "Weak-lensing shear calibration on HLWAS tiles; needs large servers for a year."


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"detail", "code"} and body["detail"]
    if code:
        assert body["code"] == code, body
    return dict(body)


def test_health_openapi_and_metrics(stack: QuotaStack) -> None:
    with stack.api(None) as api:
        assert api.get("health").json()["status"] == "ok"
        # The API description is for callers of this service only (issue 15 item 14).
        assert api.get("openapi.json").status_code == 401
    with stack.api(stack.user_token(name("spec"))) as api:
        spec = api.get("openapi.json").json()
        assert "/services/quota/api/v1/hub/spawn-decisions" in spec["paths"]
        metrics = httpx.get(f"{stack.url}/services/quota/metrics")
        assert "nexus_quota_request_seconds" in metrics.text


def allowed_decisions(stack: QuotaStack) -> float:
    text = httpx.get(f"{stack.url}/services/quota/metrics").text
    for line in text.splitlines():
        if line.startswith('nexus_quota_spawn_decisions_total{result="allowed"}'):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_every_decision(stack: QuotaStack) -> None:
    # Each request on a new connection, so that with several workers more than one serves.
    before = allowed_decisions(stack)
    headers = {"Authorization": f"token {stack.hook_token}"}
    for _ in range(6):
        body = {"username": name("m"), "size": "small"}
        resp = httpx.post(f"{stack.api_url}hub/spawn-decisions", json=body, headers=headers)
        assert resp.json()["allowed"] is True
    assert allowed_decisions(stack) == before + 6


def test_unauthenticated_and_bad_tokens(stack: QuotaStack) -> None:
    with stack.api(None) as api:
        assert_error(api.get("me"), 401, "not_authenticated")
    with stack.api("not-a-real-token") as api:
        assert_error(api.get("me"), 401, "not_authenticated")
    with stack.api(stack.user_token(name("u"))) as api:
        assert_error(api.get("nope"), 404, "not_found")


def test_hub_flow_spawn_stop_charge(stack: QuotaStack) -> None:
    user = name("astro")
    with stack.api(stack.hook_token) as hook:
        ent = hook.get(f"hub/users/{user}/entitlements").json()
        assert [s["name"] for s in ent["sizes"]] == ["small", "medium"]
        denied = hook.post("hub/spawn-decisions", json={"username": user, "size": "large"}).json()
        assert denied["allowed"] is False and denied["code"] == "size_not_allowed"
        assert denied["upgrade_url"] in denied["message"]
        ok = hook.post("hub/spawn-decisions", json={"username": user, "size": "small"}).json()
        assert ok["allowed"] is True and ok["size"]["cpu_limit"] == 2
        assert any(s["id"] == ok["session_id"] for s in hook.get("hub/sessions").json())
        closed = hook.post("hub/sessions/stop", json={"username": user}).json()["closed"]
        assert [c["session_id"] for c in closed] == [ok["session_id"]]
        assert closed[0]["cpu_hours"] >= 0
    with stack.api(stack.user_token(user)) as me:
        allocs = me.get("me").json()["allocations"]
        assert allocs[0]["running_servers"] == 0


def test_who_may_call_what(stack: QuotaStack) -> None:
    alice, bob = name("alice"), name("bob")
    with stack.api(stack.user_token(alice)) as api:
        # A person cannot act as the hub, nor as an admin.
        assert_error(api.get(f"hub/users/{bob}/entitlements"), 403, "forbidden")
        assert_error(api.get("admin/requests"), 403, "forbidden")
        assert_error(api.post("hub/spawn-decisions", json={"username": bob, "size": "small"}), 403)
    with stack.api(stack.hook_token) as hook:
        # The hook token is not a person and not an admin.
        assert_error(hook.get("me"), 403)
        assert_error(hook.get("admin/users"), 403)
    with stack.api(stack.jobs_token) as jobs:
        assert jobs.get("hub/sessions").status_code == 200


def test_request_lifecycle_and_admin(stack: QuotaStack) -> None:
    user, admin = name("res"), name("admin")
    with (
        stack.api(stack.user_token(user)) as me,
        stack.api(quota_admin_token(stack, admin)) as adm,
    ):
        short = me.post("me/requests", json={"tier": "research", "justification": "pls"})
        assert_error(short, 422, "invalid_input")
        assert "justification" in short.json()["detail"]
        assert_error(
            me.post("me/requests", json={"tier": "consortium", "justification": JUSTIFICATION}),
            422,
            "proposal_ref_required",
        )
        created = me.post("me/requests", json={"tier": "research", "justification": JUSTIFICATION})
        assert created.status_code == 201
        req_id = created.json()["id"]
        assert_error(
            me.post("me/requests", json={"tier": "research", "justification": JUSTIFICATION}),
            409,
            "request_pending",
        )
        pending = adm.get("admin/requests", params={"status": "pending"}).json()
        assert req_id in [r["id"] for r in pending]
        assert_error(adm.post(f"admin/requests/{req_id}/deny", json={"note": ""}), 422)
        ok = adm.post(f"admin/requests/{req_id}/approve", json={"cpu_hours": 300, "note": "ok"})
        assert ok.status_code == 200 and ok.json()["status"] == "approved"
        assert_error(adm.post(f"admin/requests/{req_id}/approve", json={}), 409, "already_decided")
        mine = me.get("me").json()
        assert mine["tier"] == "research"
        assert adm.get("admin/users", params={"q": user}).json()[0]["username"] == user
        audit = adm.get("admin/audit").json()
        assert any(e["action"] == "request.approve.upgrade" and e["actor"] == admin for e in audit)
        assert adm.get("admin/reports/usage").status_code == 200
        assert_error(adm.get(f"admin/users/{name('ghost')}"), 404, "not_found")


def test_text_the_database_cannot_store_is_refused(stack: QuotaStack) -> None:
    """NUL and unpaired surrogates are a 422 on both backends; nothing is written."""
    user, admin = name("txt"), name("admin")
    with (
        stack.api(stack.user_token(user)) as me,
        stack.api(quota_admin_token(stack, admin)) as adm,
    ):
        assert me.get("me").status_code == 200
        granted = adm.post(
            "admin/allocations", json={"username": user, "tier": "research", "reason": "pilot"}
        )
        assert granted.status_code == 201, granted.text
        alloc = granted.json()["id"]
        before = adm.get("admin/audit").json()
        for reason in ("late\x00data", "half \ud83d pair"):
            # httpx would refuse to encode a lone surrogate; send the JSON escape itself.
            body = json.dumps({"days": 30, "reason": reason})
            refused = adm.post(
                f"admin/allocations/{alloc}/extend",
                content=body.encode(),
                headers={"content-type": "application/json"},
            )
            detail = assert_error(refused, 422, "invalid_input")["detail"]
            assert "reason" in detail
        assert adm.get("admin/audit").json() == before
        nul = {"tier": "research", "justification": JUSTIFICATION + "\x00"}
        refused = me.post("me/requests", json=nul)
        assert "NUL" in assert_error(refused, 422, "invalid_input")["detail"]
        assert me.get("me/requests").json() == []
        assert_error(adm.get("admin/users", params={"q": "a\x00b"}), 422, "invalid_input")


def test_leads_manage_only_their_consortium(stack: QuotaStack) -> None:
    admin, lead, member, outsider = (name(p) for p in ("adm", "lead", "mem", "out"))
    with stack.api(quota_admin_token(stack, admin)) as adm:
        cid = create_consortium(adm, name("cons"), [lead])
    with stack.api(stack.user_token(lead)) as api:
        added = api.post(
            f"consortia/{cid}/members", json={"username": member, "cpu_hours_share": 70}
        )
        assert added.status_code == 201, added.text
        too_much = api.put(f"consortia/{cid}/members/{member}/share", json={"cpu_hours_share": 101})
        body = assert_error(too_much, 409, "pool_exceeded")
        assert "at most 100" in body["detail"]
        assert (
            api.put(
                f"consortia/{cid}/members/{member}/share", json={"cpu_hours_share": 80}
            ).status_code
            == 200
        )
    with stack.api(stack.user_token(member)) as api:
        sub = [a for a in api.get("me").json()["allocations"] if a["tier"] == "consortium"]
        assert sub[0]["cpu_hours_budget"] == 80
        assert_error(api.get(f"consortia/{cid}"), 403, "forbidden")
    with stack.api(stack.user_token(outsider)) as api:
        assert_error(
            api.post(f"consortia/{cid}/members", json={"username": outsider}), 403, "forbidden"
        )
        assert_error(api.get("consortia/999999"), 404, "not_found")


def test_purge_manifests_are_private(stack: QuotaStack) -> None:
    with stack.api(stack.user_token(name("quiet"))) as api:
        assert api.get("me/purge-manifests").json() == []
        assert_error(api.get("me/purge-manifests/12345/entries"), 404, "not_found")
        assert_error(api.get("me/purge-manifests/99999999999/entries"), 422, "invalid_input")


def test_dropped_database_connections_give_503_then_recover(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """The server side of every pooled connection goes away (a database restart or failover):
    the hub's endpoints answer 503 'try again' at worst, never 500, and then serve again.
    Its own stack: the shared one must not be left with dead pools."""
    db_url = databases.new("postgresql")
    stack = QuotaStack.start(tmp_path, db_url, env={"NEXUS_QUOTA_WORKERS": "2"})
    user = name("failover")
    body = {"username": user, "server_name": "", "size": "small"}
    try:
        with stack.api(stack.hook_token) as hook:
            assert hook.post("hub/spawn-decisions", json=body).status_code == 200
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as pg:
                dropped = pg.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (make_url(db_url).database,),
                ).fetchone()
            assert dropped and dropped[0] > 0
            statuses = []
            for _ in range(20):  # two workers, each finds its pool dead once
                resp = hook.post("hub/sessions/stop", json={"username": user, "server_name": ""})
                statuses.append(resp.status_code)
                if resp.status_code == 503:
                    assert_error(resp, 503, "database_unavailable")
                if statuses[-3:] == [200, 200, 200]:
                    break
    finally:
        stack.stop()
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[-3:] == [200, 200, 200], statuses
