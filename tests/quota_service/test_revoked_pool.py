"""Issue 15 item 5 (rest): a sub-allocation is only as good as its consortium pool.

The tier on `me`, the home quota and everything else built on `usable_allocations` treat a
member's share of a revoked or expired pool as gone; revoking a pool revokes its shares
(once: members removed earlier are not told again); a share of a dead pool cannot be
extended on its own. Through the service layer on SQLite and PostgreSQL, with states the API
no longer makes written directly where needed.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from quota_service.errors import Conflict
from quota_service.factory import Factory
from quota_service.models.v1 import ExtendIn
from quota_service.policy import GIB
from quota_service.schema import Allocation, AllocationStatus, AuditEvent, UserNotice
from quota_service.services.base import Actor
from tests.support.clock import FakeClock

pytestmark = pytest.mark.integration

# Larger than Entry's (10 / 15 GiB), so a pool's quota that still counted would show.
POOL_QUOTA = (300, 400)


def consortium(factory: Factory, lead: str, members: list[str]) -> tuple[int, int, dict[str, int]]:
    """A 30-day consortium; returns (consortium id, pool id, username -> sub-allocation id)."""
    with factory.unit_of_work() as svc:
        view = svc.consortia.create(
            "root",
            name=f"pool-{uuid.uuid4().hex[:8]}",
            proposal_ref=None,
            cpu_hours=100,
            home_quota_soft_gib=POOL_QUOTA[0],
            home_quota_hard_gib=POOL_QUOTA[1],
            term_days=30,
            leads=[lead],
            reason="test",
        )
        for m in members:
            svc.consortia.add_member(Actor(lead), view.id, m, "member", 10)
        view = svc.consortia.view(Actor(lead), view.id)
        subs = {m.username: m.sub_allocation_id for m in view.members}
        assert None not in subs.values()
        return view.id, view.pool.id, {k: v for k, v in subs.items() if v is not None}


def entry_quota(factory: Factory) -> tuple[int, int]:
    q = factory.policy.tier("entry").home_quota_gib
    assert q is not None
    return int(q.soft * GIB), int(q.hard * GIB)


def test_a_live_pool_counts_for_tier_and_quota(factory: Factory) -> None:
    consortium(factory, "lena", ["mo"])
    with factory.unit_of_work() as svc:
        mo = svc.users.get("mo")
        assert svc.users.me("mo").tier == "consortium"
        assert svc.users.home_quota(mo) == (POOL_QUOTA[0] * GIB, POOL_QUOTA[1] * GIB)


def test_revoking_a_pool_revokes_its_shares_and_the_tier_falls_back(factory: Factory) -> None:
    cid, pool_id, subs = consortium(factory, "lena", ["mo", "gone"])
    with factory.unit_of_work() as svc:
        svc.consortia.remove_member(Actor("lena"), cid, "gone")
    with factory.unit_of_work() as svc:
        svc.allocations.revoke("root", pool_id, "panel ended")
    with factory.unit_of_work() as svc:
        session = svc.ctx.session
        statuses = {a.id: a.status for a in session.scalars(select(Allocation))}
        assert statuses[pool_id] == AllocationStatus.revoked
        assert statuses[subs["mo"]] == statuses[subs["lena"]] == AllocationStatus.revoked
        for name in ("mo", "lena"):
            user = svc.users.get(name)
            assert svc.users.me(name).tier == "entry"
            assert svc.users.home_quota(user) == entry_quota(factory)
        # The member removed before was told then, not again now.
        gone = svc.users.get("gone")
        told = session.scalars(select(UserNotice.message).where(UserNotice.user_id == gone.id))
        assert not [b for b in told if "was revoked: panel ended" in b]
        mo = svc.users.get("mo")
        told = session.scalars(select(UserNotice.message).where(UserNotice.user_id == mo.id))
        assert [b for b in told if "was revoked: panel ended" in b]
        after = session.scalars(
            select(AuditEvent.after).where(AuditEvent.action == "allocation.revoke")
        ).one()
        assert after is not None
        assert sorted(after["revoked_sub_allocations"]) == sorted([subs["mo"], subs["lena"]])


@pytest.mark.parametrize("pool_state", ["revoked", "expired"])
def test_a_share_left_active_under_a_dead_pool_is_not_usable(
    factory: Factory, clock: FakeClock, pool_state: str
) -> None:
    _cid, pool_id, subs = consortium(factory, "lena", ["mo"])
    with factory.unit_of_work() as svc:
        pool = svc.ctx.session.get(Allocation, pool_id)
        sub = svc.ctx.session.get(Allocation, subs["mo"])
        assert pool is not None and sub is not None
        # What an admin's extend of the share alone, or a revoke before the cascade, left.
        sub.ends_at = None
        if pool_state == "revoked":
            pool.status = AllocationStatus.revoked
    if pool_state == "expired":
        clock.advance(days=31)
    with factory.unit_of_work() as svc:
        mo = svc.users.get("mo")
        assert svc.users.me("mo").tier == "entry"
        assert svc.users.home_quota(mo) == entry_quota(factory)
        assert subs["mo"] not in [a.id for a in svc.users.usable_allocations(mo)]


def test_a_share_of_an_expired_pool_cannot_be_extended_alone(
    factory: Factory, clock: FakeClock
) -> None:
    _cid, pool_id, subs = consortium(factory, "lena", ["mo"])
    clock.advance(days=31)
    with factory.unit_of_work() as svc:
        svc.allocations.expire()
    with factory.unit_of_work() as svc:
        with pytest.raises(Conflict, match="expired") as refused:
            svc.allocations.extend("root", subs["mo"], ExtendIn(days=30, reason="please"))
        assert refused.value.code == "pool_inactive"
    # Extending the pool brings its shares back with it.
    with factory.unit_of_work() as svc:
        svc.allocations.extend("root", pool_id, ExtendIn(days=30, reason="renewed"))
    with factory.unit_of_work() as svc:
        sub = svc.ctx.session.get(Allocation, subs["mo"])
        assert sub is not None and sub.status == AllocationStatus.active
        assert svc.users.me("mo").tier == "consortium"
