"""Business rules through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from quota_service.errors import Conflict, InvalidInput, PermissionDenied
from quota_service.factory import Factory
from quota_service.models.v1 import (
    ApproveIn,
    ExtendIn,
    GrantIn,
    RequestIn,
    SpawnAllowed,
    SpawnDenied,
)
from quota_service.schema import (
    Allocation,
    AuditEvent,
    AuditLogIsAppendOnly,
    Charge,
    ServerSession,
    StorageUsageSnapshot,
)
from quota_service.services.base import Actor
from tests.support.clock import FakeClock

pytestmark = pytest.mark.integration
JUSTIFICATION = "Photometric redshift study of 40 HLWAS fields; needs 8-CPU servers."


def allowed(decision: SpawnAllowed | SpawnDenied) -> SpawnAllowed:
    assert isinstance(decision, SpawnAllowed), decision
    return decision


def denied(decision: SpawnAllowed | SpawnDenied) -> SpawnDenied:
    assert isinstance(decision, SpawnDenied), decision
    return decision


def grant_research(factory: Factory, username: str, **kw: object) -> int:
    with factory.unit_of_work() as svc:
        view = svc.allocations.grant(
            "admin",
            GrantIn(username=username, tier="research", reason="test", **kw),
        )
    return view.id


def test_first_contact_creates_entry_and_entitlements(factory: Factory) -> None:
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements("alice")
    assert ent.tier == "entry"
    assert [a.tier for a in ent.allocations] == ["entry"]
    assert [s.name for s in ent.sizes] == ["small", "medium"]
    assert ent.allocations[0].cpu_hours_left == 1000


def test_entitlements_are_the_union_of_active_allocations(factory: Factory) -> None:
    grant_research(factory, "bob")
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements("bob")
    assert ent.tier == "research"
    assert [s.name for s in ent.sizes] == ["small", "medium", "large"]
    small = next(s for s in ent.sizes if s.name == "small")
    assert len(small.allocation_ids) == 2  # both allocations allow small


def test_size_outside_tier_is_denied_with_upgrade_link(factory: Factory) -> None:
    with factory.unit_of_work() as svc:
        d = denied(svc.spawn.decide("alice", "", "large"))
    assert d.code == "size_not_allowed"
    assert "small, medium" in d.message and d.upgrade_url in d.message


def test_unknown_size_is_invalid_input(factory: Factory) -> None:
    with pytest.raises(InvalidInput, match="unknown server size"):
        with factory.unit_of_work() as svc:
            svc.spawn.decide("alice", "", "gigantic")


def test_stop_charges_cpu_times_wall_time(factory: Factory, clock: FakeClock) -> None:
    with factory.unit_of_work() as svc:
        ok = allowed(svc.spawn.decide("alice", "", "medium"))
    assert ok.size.cpu_limit == 4 and ok.tier == "entry"
    clock.advance(minutes=90)
    with factory.unit_of_work() as svc:
        closed = svc.spawn.stop("alice", "")
    assert [round(c.cpu_hours, 6) for c in closed] == [6.0]  # 4 CPU x 1.5 h
    with factory.unit_of_work() as svc:
        me = svc.users.me("alice")
        again = svc.spawn.stop("alice", "")
    assert me.allocations[0].cpu_hours_used == 6.0
    assert again == []  # stop is idempotent


def test_a_charge_across_a_period_reset_is_stored_whole(factory: Factory, clock: FakeClock) -> None:
    """The stop's writes (allocation, charge, session) land together, period roll included,
    and read back from a fresh transaction as written."""
    with factory.unit_of_work() as svc:
        ok = allowed(svc.spawn.decide("rita", "lab", "small"))
    started = clock()
    clock.advance(days=366)
    with factory.unit_of_work() as svc:
        (closed,) = svc.spawn.stop("rita", "lab")
    hours = 2 * 366 * 24
    assert closed.cpu_hours == pytest.approx(hours)
    with factory.unit_of_work() as svc:
        session = svc.spawn.get_session(ok.session_id)
        charges = svc.ctx.session.scalars(
            select(Charge).where(Charge.session_id == ok.session_id)
        ).all()
        allocation = svc.ctx.session.get(Allocation, ok.allocation_id)
        assert allocation is not None
    assert session.ended_at is not None and session.close_reason == "stopped"
    assert session.cpu_hours_charged == pytest.approx(hours)
    assert [c.cpu_hours for c in charges] == [pytest.approx(hours)]
    # The yearly period rolled during the stop: this charge is all the new period's usage.
    assert allocation.cpu_hours_used == pytest.approx(hours)
    assert allocation.period_started_at.replace(tzinfo=None) == (
        started + timedelta(days=365)
    ).replace(tzinfo=None)


def test_a_session_charged_meanwhile_is_not_charged_again(
    factory: Factory, clock: FakeClock, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("interleaves two open transactions; SQLite serialises writers")
    with factory.unit_of_work() as svc:
        allowed(svc.spawn.decide("dora", "lab", "small"))
    clock.advance(hours=1)
    with factory.unit_of_work() as late:
        stale = late.ctx.session.scalars(
            select(ServerSession).where(ServerSession.ended_at.is_(None))
        ).one()
        # Another request (the hub's stop) charges and closes it while `late` holds a copy.
        with factory.unit_of_work() as first:
            assert [round(c.cpu_hours, 6) for c in first.spawn.stop("dora", "lab")] == [2.0]
        closed = late.spawn.close(stale, clock(), reason="reconciled")
    assert round(closed.cpu_hours, 6) == 2.0
    with factory.unit_of_work() as svc:
        me = svc.users.me("dora")
        charges = svc.ctx.session.scalars(select(Charge)).all()
    assert me.allocations[0].cpu_hours_used == 2.0  # 2 CPU x 1 h, charged once
    assert len(charges) == 1
    assert stale.close_reason == "stopped"


def test_concurrent_server_limit(factory: Factory) -> None:
    with factory.unit_of_work() as svc:
        allowed(svc.spawn.decide("alice", "", "small"))
    with factory.unit_of_work() as svc:
        d = denied(svc.spawn.decide("alice", "second", "small"))
    assert d.code == "concurrent_server_limit" and d.limit == 1 and d.used == 1


def test_exhausted_budget_states_limit_usage_and_reset(factory: Factory, clock: FakeClock) -> None:
    with factory.unit_of_work() as svc:
        allowed(svc.spawn.decide("alice", "", "medium"))
    clock.advance(hours=250)  # 4 CPU x 250 h = all 1000 CPU-hours
    with factory.unit_of_work() as svc:
        svc.spawn.stop("alice", "")
    with factory.unit_of_work() as svc:
        d = denied(svc.spawn.decide("alice", "", "small"))
    assert d.code == "cpu_hours_exhausted"
    assert d.limit == 1000 and d.used == pytest.approx(1000)
    assert d.resets_at is not None and "resets on" in d.message
    # Entry's budget resets after its yearly period.
    clock.advance(days=366)
    with factory.unit_of_work() as svc:
        allowed(svc.spawn.decide("alice", "", "small"))


def test_person_with_several_allocations_chooses(factory: Factory, clock: FakeClock) -> None:
    research_id = grant_research(factory, "carol")
    with factory.unit_of_work() as svc:
        entry_id = next(a.id for a in svc.users.me("carol").allocations if a.tier == "entry")
        ok = allowed(svc.spawn.decide("carol", "", "small", entry_id))
    assert ok.allocation_id == entry_id
    clock.advance(hours=1)
    with factory.unit_of_work() as svc:
        svc.spawn.stop("carol", "")
        default = allowed(svc.spawn.decide("carol", "", "small"))
    assert default.allocation_id == research_id  # highest tier by default
    with factory.unit_of_work() as svc:
        d = denied(svc.spawn.decide("alice", "x", "small", research_id))
    assert d.code == "not_your_allocation"


def test_expired_allocation_is_denied_and_falls_back_to_entry(
    factory: Factory, clock: FakeClock
) -> None:
    alloc_id = grant_research(factory, "dave", term_days=10)
    clock.advance(days=4)
    with factory.unit_of_work() as svc:
        report = svc.allocations.expire()
    assert (alloc_id, 7) in report.warned
    with factory.unit_of_work() as svc:
        again = svc.allocations.expire()
    assert again.warned == []  # idempotent: no second notice
    clock.advance(days=7)
    with factory.unit_of_work() as svc:
        d = denied(svc.spawn.decide("dave", "", "large", alloc_id))
    assert d.code == "allocation_expired"
    with factory.unit_of_work() as svc:
        report = svc.allocations.expire()
        me = svc.users.me("dave")
    assert report.expired == [alloc_id]
    assert me.tier == "entry"
    kinds = [n.message for n in me.notices]
    assert any("expired" in m for m in kinds) and any("ends on" in m for m in kinds)


def test_over_hard_quota_starts_in_cleanup_mode(factory: Factory, clock: FakeClock) -> None:
    with factory.unit_of_work() as svc:
        user = svc.users.ensure("erin")
        svc.ctx.session.add(
            StorageUsageSnapshot(
                user_id=user.id,
                measured_at=clock(),
                home_bytes=20 * 1024**3,
                home_files=10,
                scratch_bytes=0,
                scratch_files=0,
                newest_atime=None,
                newest_mtime=None,
                over_soft=True,
                over_hard=True,
            )
        )
    with factory.unit_of_work() as svc:
        ent = svc.spawn.entitlements("erin")
        ok = allowed(svc.spawn.decide("erin", "", "medium"))
    assert ent.cleanup_mode and ent.notices
    assert ok.cleanup_mode and ok.size.name == "small" and ok.notice and "clean-up" in ok.notice


def test_requests_one_pending_per_tier_and_approval(factory: Factory) -> None:
    with factory.unit_of_work() as svc:
        req = svc.requests.create("frank", RequestIn(tier="research", justification=JUSTIFICATION))
    with pytest.raises(Conflict, match="pending"):
        with factory.unit_of_work() as svc:
            svc.requests.create("frank", RequestIn(tier="research", justification=JUSTIFICATION))
    with pytest.raises(InvalidInput, match="proposal"):
        with factory.unit_of_work() as svc:
            svc.requests.create("frank", RequestIn(tier="consortium", justification=JUSTIFICATION))
    with factory.unit_of_work() as svc:
        done = svc.requests.approve("root", req.id, ApproveIn(cpu_hours=500, note="ok"))
    assert done.status == "approved" and done.result_allocation_id
    with pytest.raises(Conflict, match="already approved"):
        with factory.unit_of_work() as svc:
            svc.requests.deny("root2", req.id, "late")
    with factory.unit_of_work() as svc:
        me = svc.users.me("frank")
        audit = svc.audit.list()
    research = next(a for a in me.allocations if a.tier == "research")
    assert research.cpu_hours_budget == 500
    assert audit[0].action == "request.approve.upgrade" and audit[0].actor == "root"


def test_withdraw_only_own_and_renewal(factory: Factory, clock: FakeClock) -> None:
    alloc_id = grant_research(factory, "gina", term_days=30)
    with factory.unit_of_work() as svc:
        req = svc.requests.create(
            "gina",
            RequestIn(
                tier="research", kind="renewal", allocation_id=alloc_id, justification=JUSTIFICATION
            ),
        )
        status = svc.allocations.view(alloc_id).status
    assert status == "renewal-requested"
    with pytest.raises(PermissionDenied):
        with factory.unit_of_work() as svc:
            svc.requests.withdraw("mallory", req.id)
    with factory.unit_of_work() as svc:
        svc.requests.approve("root", req.id, ApproveIn(term_days=365))
        view = svc.allocations.view(alloc_id)
    assert view.status == "active"
    assert view.ends_at is not None and (view.ends_at - clock()).days == 30 + 365


def test_consortium_pool_shares_and_charges(factory: Factory, clock: FakeClock) -> None:
    with factory.unit_of_work() as svc:
        c = svc.consortia.create(
            "root",
            name="hlwas",
            proposal_ref="ROMAN-C-7",
            cpu_hours=100,
            home_quota_soft_gib=500,
            home_quota_hard_gib=600,
            term_days=365,
            leads=["lead1"],
            reason="panel",
        )
        svc.consortia.add_member(Actor("lead1"), c.id, "m1", "member", 60)
    with factory.unit_of_work() as svc:
        # The service checks who may: a member is no lead, an admin is one everywhere.
        with pytest.raises(PermissionDenied, match="only the leads"):
            svc.consortia.add_member(Actor("m1"), c.id, "m2", "member", 1)
        with pytest.raises(PermissionDenied, match="only the leads"):
            svc.consortia.view(Actor("m1"), c.id)
        assert svc.consortia.view(Actor("root", is_admin=True), c.id).name == "hlwas"
    with pytest.raises(Conflict) as err:
        with factory.unit_of_work() as svc:
            svc.consortia.add_member(Actor("lead1"), c.id, "m2", "member", 50)
    assert err.value.code == "pool_exceeded" and "at most 40" in err.value.detail
    with pytest.raises(Conflict, match="at most 100"):
        with factory.unit_of_work() as svc:
            svc.consortia.set_share(Actor("lead1"), c.id, "m1", 101)
    with factory.unit_of_work() as svc:
        view = svc.consortia.set_share(Actor("lead1"), c.id, "lead1", 40)
    assert view.shares_total == 100 and view.unassigned == 0
    sub_id = next(m.sub_allocation_id for m in view.members if m.username == "m1")
    with factory.unit_of_work() as svc:
        ok = allowed(svc.spawn.decide("m1", "", "xlarge", sub_id))
    clock.advance(hours=2)
    with factory.unit_of_work() as svc:
        svc.spawn.stop("m1", "")
        view = svc.consortia.view(Actor("lead1"), c.id)
    m1 = next(m for m in view.members if m.username == "m1")
    assert ok.tier == "consortium" and m1.cpu_hours_used == 32  # 16 CPU x 2 h
    assert view.pool.cpu_hours_used == 32  # counts against the pool too
    with factory.unit_of_work() as svc:
        audit = [e.action for e in svc.audit.list()]
    assert {"consortium.create", "consortium.add_member", "consortium.set_share"} <= set(audit)


def test_audit_log_is_append_only(factory: Factory) -> None:
    grant_research(factory, "hank")
    with pytest.raises(AuditLogIsAppendOnly):
        with factory.unit_of_work() as svc:
            event = svc.ctx.session.scalars(select(AuditEvent)).first()
            assert event is not None
            event.reason = "rewritten"
            svc.ctx.session.flush()
    with pytest.raises(AuditLogIsAppendOnly):
        with factory.unit_of_work() as svc:
            event = svc.ctx.session.scalars(select(AuditEvent)).first()
            svc.ctx.session.delete(event)
            svc.ctx.session.flush()


def test_extend_and_revoke(factory: Factory) -> None:
    alloc_id = grant_research(factory, "ivy", term_days=10)
    with factory.unit_of_work() as svc:
        before = svc.allocations.view(alloc_id).ends_at
        after = svc.allocations.extend("root", alloc_id, ExtendIn(days=5, reason="conference"))
    assert before is not None and after.ends_at is not None
    assert (after.ends_at - before).days == 5
    with factory.unit_of_work() as svc:
        revoked = svc.allocations.revoke("root", alloc_id, "misuse")
        d = denied(svc.spawn.decide("ivy", "", "large", alloc_id))
    assert revoked.status == "revoked" and d.code == "allocation_not_active"
    with factory.unit_of_work() as svc:
        entry = svc.spawn.entitlements("ivy")
    assert entry.tier == "entry"
