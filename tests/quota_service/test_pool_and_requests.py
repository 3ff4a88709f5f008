"""Issue 15 items 5, 12 and 13: revoked or expired consortium pools, requests naming someone
else's allocation, and datetimes without an offset. Over HTTP against the real service and
hub, and through the service layer where a state the API no longer makes is needed; on
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from quota_service.errors import Conflict, NotFound, PermissionDenied
from quota_service.factory import Factory
from quota_service.models.v1 import GrantIn, RequestIn, SpawnAllowed, SpawnDenied
from quota_service.schema import (
    Allocation,
    AllocationRequest,
    AllocationStatus,
    RequestKind,
    RequestStatus,
    User,
)
from quota_service.services.base import Actor
from tests.support.clock import FakeClock
from tests.support.consortia import create_consortium
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import quota_admin_token

pytestmark = pytest.mark.integration
JUSTIFICATION = "Transient light curves across the High Latitude Time Domain Survey fields."
ROOT = Actor("root", is_admin=True)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error(resp: httpx.Response, status: int, code: str | None = None) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    if code is not None:
        assert body["code"] == code, body
    return str(body["detail"])


def make_consortium(adm: httpx.Client, lead: str, member: str) -> dict[str, Any]:
    cid = create_consortium(adm, name("pool"), [lead])
    added = adm.post(f"consortia/{cid}/members", json={"username": member, "cpu_hours_share": 50})
    assert added.status_code == 201, added.text
    return dict(added.json())


# --- item 5: a revoked pool ------------------------------------------------------------------


def test_a_revoked_pool_has_no_leads_no_new_members_and_no_spawns(stack: QuotaStack) -> None:
    lead, member, newcomer = name("lead"), name("mem"), name("new")
    with stack.api(quota_admin_token(stack, name("adm"))) as adm:
        view = make_consortium(adm, lead, member)
        cid, pool_id = view["id"], view["pool"]["id"]
        sub_id = next(m["sub_allocation_id"] for m in view["members"] if m["username"] == member)
        revoked = adm.post(f"admin/allocations/{pool_id}/revoke", json={"reason": "panel ended"})
        assert revoked.status_code == 200, revoked.text
        # No new members, not even from an admin: they would charge the pool.
        refused = adm.post(f"consortia/{cid}/members", json={"username": newcomer})
        assert "revoked" in error(refused, 409, "pool_inactive")
        share = adm.put(f"consortia/{cid}/members/{member}/share", json={"cpu_hours_share": 60})
        error(share, 409, "pool_inactive")
        assert adm.get(f"consortia/{cid}").status_code == 200  # admins still see it
    with stack.api(stack.user_token(lead)) as api:
        assert "revoked" in error(api.get(f"consortia/{cid}"), 403, "forbidden")
        error(api.post(f"consortia/{cid}/members", json={"username": newcomer}), 403)
        error(api.delete(f"consortia/{cid}/members/{member}"), 403)
    with stack.api(stack.hook_token) as hook:
        body = {"username": member, "size": "small", "allocation_id": sub_id}
        decision = hook.post("hub/spawn-decisions", json=body).json()
        assert decision["allowed"] is False, decision
        assert decision["code"] == "allocation_not_active"
        assert "consortium pool" in decision["message"] and "revoked" in decision["message"]
        # Without a choice, the spawn goes to what still works (Entry), never the pool.
        fallback = hook.post("hub/spawn-decisions", json={"username": member, "size": "small"})
        assert fallback.json()["allowed"] is True and fallback.json()["tier"] == "entry"
        sizes = hook.get(f"hub/users/{member}/entitlements").json()["sizes"]
        assert all(sub_id not in s["allocation_ids"] for s in sizes)


def test_an_expired_pool_ends_lead_rights_and_spawns(factory: Factory, clock: FakeClock) -> None:
    with factory.unit_of_work() as svc:
        view = svc.consortia.create(
            "root",
            name=name("old"),
            proposal_ref=None,
            cpu_hours=100,
            home_quota_soft_gib=1,
            home_quota_hard_gib=2,
            term_days=10,
            leads=["lena"],
            reason="test",
        )
        svc.consortia.add_member(Actor("lena"), view.id, "mo", "member", 10)
    clock.advance(days=11)
    with factory.unit_of_work() as svc:
        with pytest.raises(PermissionDenied, match="expired"):
            svc.consortia.view(Actor("lena"), view.id)
        with pytest.raises(Conflict, match="expired") as conflict:
            svc.consortia.add_member(ROOT, view.id, "newbie", "member", 1)
        assert conflict.value.code == "pool_inactive"
        members = svc.consortia.view(ROOT, view.id).members
        sub = next(m.sub_allocation_id for m in members if m.username == "mo")
        decision = svc.spawn.decide("mo", "", "small", sub)
    assert isinstance(decision, SpawnDenied) and "expired" in decision.message


# --- item 12: requests name only one's own allocation ---------------------------------------


def test_a_request_cannot_name_someone_elses_allocation(stack: QuotaStack) -> None:
    alice, bob = name("alice"), name("bob")
    with stack.api(quota_admin_token(stack, name("adm"))) as adm:
        grant = {"username": alice, "tier": "research", "reason": "pilot"}
        alloc = adm.post("admin/allocations", json=grant).json()["id"]
    with stack.api(stack.user_token(alice)) as api:
        renewal = {"tier": "research", "kind": "renewal", "justification": JUSTIFICATION}
        assert api.post("me/requests", json={**renewal, "allocation_id": alloc}).status_code == 201
    with stack.api(stack.user_token(bob)) as api:
        for kind in ("upgrade", "renewal"):
            body = {"tier": "research", "kind": kind, "justification": JUSTIFICATION}
            refused = api.post("me/requests", json={**body, "allocation_id": alloc})
            assert "not one of yours" in error(refused, 404, "not_found")
        assert api.get("me/requests").json() == []
    with stack.api(stack.user_token(alice)) as api:
        mine = next(a for a in api.get("me").json()["allocations"] if a["id"] == alloc)
    assert mine["status"] == "renewal-requested"


def test_withdrawing_restores_only_what_the_request_changed(factory: Factory) -> None:
    """A request filed before the ownership check named alice's allocation; withdrawing or
    denying it leaves her renewal request's mark alone."""
    with factory.unit_of_work() as svc:
        alloc = svc.allocations.grant(
            "root", GrantIn(username="alice", tier="research", reason="test")
        ).id
        svc.users.ensure("bob")
    with factory.unit_of_work() as svc:
        body = {"tier": "research", "kind": "renewal", "justification": JUSTIFICATION}
        svc.requests.create("alice", RequestIn.model_validate({**body, "allocation_id": alloc}))
    legacy: list[int] = []
    with factory.unit_of_work() as svc:
        session = svc.ctx.session
        bob = session.query(User).filter_by(username="bob").one()
        for tier, kind in (("research", RequestKind.upgrade), ("consortium", RequestKind.renewal)):
            row = AllocationRequest(
                user_id=bob.id,
                tier=tier,
                kind=kind,
                status=RequestStatus.pending,
                justification=JUSTIFICATION,
                allocation_id=alloc,
                created_at=svc.ctx.now(),
            )
            session.add(row)
            session.flush()
            legacy.append(row.id)
    with factory.unit_of_work() as svc:
        svc.requests.withdraw("bob", legacy[0])
        svc.requests.deny("root", legacy[1], "not yours")
    with factory.unit_of_work() as svc:
        status = svc.ctx.session.get(Allocation, alloc)
        assert status is not None and status.status == AllocationStatus.renewal_requested
    # Alice's own withdrawal does restore it: her request made the change.
    with factory.unit_of_work() as svc:
        (own,) = svc.requests.list_for("alice")
        svc.requests.withdraw("alice", own.id)
    with factory.unit_of_work() as svc:
        restored = svc.ctx.session.get(Allocation, alloc)
        assert restored is not None and restored.status == AllocationStatus.active
        with pytest.raises(NotFound):
            svc.requests.create(
                "bob",
                RequestIn.model_validate(
                    {"tier": "research", "justification": JUSTIFICATION, "allocation_id": alloc}
                ),
            )
    with factory.unit_of_work() as svc:
        decision = svc.spawn.decide("alice", "", "small", alloc)
    assert isinstance(decision, SpawnAllowed)


# --- item 13: datetimes need an offset -------------------------------------------------------


def test_usage_report_datetimes_need_an_offset(stack: QuotaStack) -> None:
    with stack.api(quota_admin_token(stack, name("adm"))) as adm:
        for param in ("since", "until"):
            naive = adm.get("admin/reports/usage", params={param: "2026-01-01T00:00:00"})
            detail = error(naive, 422, "invalid_input")
            assert param in detail and "timezone" in detail
        ok = adm.get(
            "admin/reports/usage",
            params={"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00+02:00"},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["since"].startswith("2026-01-01T00:00:00")
        backwards = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
        error(adm.get("admin/reports/usage", params=backwards), 422, "invalid_input")
        edge = adm.get("admin/reports/usage", params={"since": "0001-01-01T00:00:00+05:00"})
        assert "since" in error(edge, 422, "invalid_input")
