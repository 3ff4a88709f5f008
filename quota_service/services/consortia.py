"""Consortium pools: created by admins, split among members by the consortium's leads."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..models.v1 import CONSORTIUM_NAME_PATTERN, CONSORTIUM_NAME_RULE, ConsortiumView, MemberView
from ..policy import TierName
from ..schema import (
    Allocation,
    AllocationKind,
    AllocationStatus,
    Consortium,
    ConsortiumMember,
    MemberRole,
    User,
)
from ..schema.team_archive import ConsortiumRemoval
from ..store.locks import for_update
from . import ledger
from .audit import AuditService
from .base import Caller, ServiceContext
from .team_storage import TeamStorageService
from .teams import TeamService
from .users import UserService
from .views import allocation_view


def check_name(name: str, *, from_proposal: bool = False) -> None:
    """Every consortium name, however it arrives (a request filed before the API's rule
    included), is plain text: it reaches KubeSpawner's spawn form and e-mails."""
    if re.fullmatch(CONSORTIUM_NAME_PATTERN, name):
        return
    if from_proposal:
        raise InvalidInput(
            f"proposal_ref {name[:40]!r} cannot name the consortium ({CONSORTIUM_NAME_RULE}): "
            "give consortium_name",
            code="invalid_consortium_name",
        )
    raise InvalidInput(
        f"name {name[:40]!r} cannot name a consortium: {CONSORTIUM_NAME_RULE}",
        code="invalid_consortium_name",
    )


class ConsortiumService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.users = UserService(ctx)
        self.audit = AuditService(ctx)

    def _get(self, consortium_id: int) -> Consortium:
        consortium = self.ctx.session.get(Consortium, consortium_id)
        if consortium is None or consortium.pool_id is None:
            raise NotFound(f"no consortium {consortium_id}")
        return consortium

    def by_name(self, name: str) -> Consortium:
        """The consortium named `name`.

        Raises:
            NotFound: No consortium has that name.
        """
        consortium = self.ctx.session.scalar(select(Consortium).where(Consortium.name == name))
        if consortium is None:
            raise NotFound(f"no consortium named {name!r}")
        return consortium

    def _pool(self, consortium: Consortium, *, lock: bool = False) -> Allocation:
        query = select(Allocation).where(Allocation.id == consortium.pool_id)
        if lock:
            query = for_update(query)
        pool = self.ctx.session.scalar(query)
        assert pool is not None
        return pool

    def is_lead(self, username: str, consortium_id: int) -> bool:
        return (
            self.ctx.session.scalar(
                select(ConsortiumMember.id)
                .join(User, User.id == ConsortiumMember.user_id)
                .where(
                    User.username == username,
                    ConsortiumMember.consortium_id == consortium_id,
                    ConsortiumMember.role == MemberRole.lead,
                )
            )
            is not None
        )

    def _authorize(self, caller: Caller, consortium_id: int) -> Consortium:
        """The consortium, once `caller` is found to manage it: an admin, or a lead of it
        while its pool is usable. Every method a lead may call checks this first.

        Raises:
            NotFound: There is no consortium `consortium_id` (or it has no pool).
            PermissionDenied: `caller` is not an admin and not one of its leads, or its
                pool is revoked or expired, so its leads can no longer manage it.
        """
        consortium = self._get(consortium_id)
        if caller.is_admin:
            return consortium
        if not self.is_lead(caller.name, consortium_id):
            raise PermissionDenied(
                f"only the leads of consortium {consortium_id} (or an admin) can do this"
            )
        # Lead rights end with the pool: a revoked or expired pool has no leads to act.
        pool = self._pool(consortium)
        if not ledger.is_usable(pool, self.ctx.now()):
            raise PermissionDenied(
                f"the pool of consortium {consortium.name} is "
                f"{ledger.effective_status(pool, self.ctx.now()).value}, so its leads can no "
                "longer manage it; ask an admin"
            )
        return consortium

    def _require_usable(self, consortium: Consortium, pool: Allocation) -> None:
        """Shares and members charge the pool: none for a revoked or expired one."""
        now = self.ctx.now()
        if not ledger.is_usable(pool, now):
            status = ledger.effective_status(pool, now).value
            raise Conflict(
                f"the pool of consortium {consortium.name} is {status}: it takes no new "
                "members or shares",
                code="pool_inactive",
            )

    def create(
        self,
        actor: str,
        *,
        name: str,
        proposal_ref: str | None,
        cpu_hours: float,
        home_quota_soft_gib: float,
        home_quota_hard_gib: float,
        term_days: int,
        leads: list[str],
        reason: str,
    ) -> ConsortiumView:
        """Create a consortium, its pool allocation and its leads' sub-allocations.

        Raises:
            InvalidInput: `home_quota_soft_gib` exceeds `home_quota_hard_gib`, or `name` breaks
                the naming rule (`invalid_consortium_name`).
            Conflict: A consortium named `name` exists (`duplicate_name`), or `leads` names
                someone twice (`already_member`).
        """
        if home_quota_soft_gib > home_quota_hard_gib:
            raise InvalidInput("home_quota_soft_gib exceeds home_quota_hard_gib")
        check_name(name, from_proposal=name == proposal_ref)
        now = self.ctx.now()
        consortium = Consortium(name=name, proposal_ref=proposal_ref, created_at=now)
        try:
            with self.ctx.session.begin_nested():
                self.ctx.session.add(consortium)
                self.ctx.session.flush()
        except IntegrityError:
            raise Conflict(f"a consortium named {name!r} exists", code="duplicate_name") from None
        pool = Allocation(
            kind=AllocationKind.pool,
            tier=TierName.consortium.value,
            status=AllocationStatus.active,
            label=f"Consortium {name}",
            owner_id=None,
            consortium_id=consortium.id,
            starts_at=now,
            ends_at=now + timedelta(days=term_days),
            cpu_hours_budget=cpu_hours,
            home_quota_soft_gib=home_quota_soft_gib,
            home_quota_hard_gib=home_quota_hard_gib,
            cpu_hours_used=0.0,
            period_started_at=now,
            created_at=now,
            updated_at=now,
        )
        self.ctx.session.add(pool)
        self.ctx.session.flush()
        consortium.pool_id = pool.id
        teams = TeamService(self.ctx)
        team_dir, gid = teams.identity(consortium)
        for lead in leads:
            self._add(consortium, pool, lead, MemberRole.lead, 0.0)
        self.audit.record(
            actor=actor,
            action="consortium.create",
            target_type="consortium",
            target_id=consortium.id,
            after={
                "name": name,
                "cpu_hours": cpu_hours,
                "leads": leads,
                "pool_id": pool.id,
                "team_dir": team_dir,
                "gid": gid,
            },
            reason=reason,
        )
        teams.provision(consortium)
        return self._view(consortium)

    def _add(
        self,
        consortium: Consortium,
        pool: Allocation,
        username: str,
        role: MemberRole,
        share: float,
    ) -> ConsortiumMember:
        user = self.users.ensure(username)
        existing = self.ctx.session.scalar(
            select(ConsortiumMember).where(
                ConsortiumMember.consortium_id == consortium.id,
                ConsortiumMember.user_id == user.id,
            )
        )
        if existing is not None:
            raise Conflict(
                f"{username} is already a {existing.role.value} of {consortium.name}",
                code="already_member",
            )
        now = self.ctx.now()
        sub = Allocation(
            kind=AllocationKind.sub,
            tier=TierName.consortium.value,
            status=AllocationStatus.active,
            label=f"Consortium {consortium.name} ({username})",
            owner_id=user.id,
            parent_id=pool.id,
            consortium_id=consortium.id,
            starts_at=pool.starts_at,
            ends_at=pool.ends_at,
            cpu_hours_budget=share,
            cpu_hours_used=0.0,
            period_started_at=now,
            created_at=now,
            updated_at=now,
        )
        self.ctx.session.add(sub)
        self.ctx.session.flush()
        member = ConsortiumMember(
            consortium_id=consortium.id,
            user_id=user.id,
            role=role,
            sub_allocation_id=sub.id,
            created_at=now,
        )
        self.ctx.session.add(member)
        self.ctx.session.flush()
        return member

    def _shares_total(self, pool: Allocation, excluding: int | None = None) -> float:
        subs = self.ctx.session.scalars(
            select(Allocation).where(
                Allocation.parent_id == pool.id, Allocation.status != AllocationStatus.revoked
            )
        )
        return sum((s.cpu_hours_budget or 0.0) for s in subs if s.id != excluding)

    def _check_pool(self, pool: Allocation, new_share: float, excluding: int | None) -> None:
        pool_budget = ledger.budget(self.ctx.policy, pool)
        others = self._shares_total(pool, excluding)
        if others + new_share > pool_budget + 1e-9:
            raise Conflict(
                f"the pool holds {pool_budget:g} CPU-hours and other members' shares total "
                f"{others:g}, so this member can get at most {max(pool_budget - others, 0):g}",
                code="pool_exceeded",
            )

    def add_member(
        self, caller: Caller, consortium_id: int, username: str, role: str, share: float
    ) -> ConsortiumView:
        """Add `username` to the consortium with `role` and a share of the pool's CPU-hours.

        Raises:
            NotFound: There is no consortium `consortium_id` (or it has no pool).
            PermissionDenied: `caller` may not manage it (`_authorize`).
            Conflict: The pool is revoked or expired (`pool_inactive`), the share would take
                the shares past the pool's budget (`pool_exceeded`), or `username` is already
                a member (`already_member`).
        """
        consortium = self._authorize(caller, consortium_id)
        pool = self._pool(consortium, lock=True)
        self._require_usable(consortium, pool)
        self._check_pool(pool, share, None)
        self._add(consortium, pool, username, MemberRole(role), share)
        self.audit.record(
            actor=caller.actor,
            action="consortium.add_member",
            target_type="consortium",
            target_id=consortium_id,
            after={"username": username, "role": role, "cpu_hours_share": share},
            reason=None,
        )
        return self._view(consortium)

    def _member(self, consortium: Consortium, username: str) -> tuple[ConsortiumMember, Allocation]:
        row = self.ctx.session.execute(
            select(ConsortiumMember, Allocation)
            .join(User, User.id == ConsortiumMember.user_id)
            .join(Allocation, Allocation.id == ConsortiumMember.sub_allocation_id)
            .where(ConsortiumMember.consortium_id == consortium.id, User.username == username)
        ).first()
        if row is None:
            raise NotFound(f"{username} is not a member of {consortium.name}")
        return row[0], row[1]

    def remove_member(self, caller: Caller, consortium_id: int, username: str) -> ConsortiumView:
        """Remove `username` from the consortium, revoking their sub-allocation.

        Raises:
            NotFound: There is no consortium `consortium_id` (or it has no pool), or
                `username` is not a member of it.
            PermissionDenied: `caller` may not manage it (`_authorize`).
            Conflict: `username` is its last lead (`last_lead`).
        """
        consortium = self._authorize(caller, consortium_id)
        self._pool(consortium, lock=True)
        member, sub = self._member(consortium, username)
        before = {"username": username, "role": member.role.value, "share": sub.cpu_hours_budget}
        if member.role == MemberRole.lead:
            leads = self.ctx.session.scalars(
                select(ConsortiumMember).where(
                    ConsortiumMember.consortium_id == consortium.id,
                    ConsortiumMember.role == MemberRole.lead,
                )
            ).all()
            if len(leads) <= 1:
                raise Conflict("a consortium keeps at least one lead", code="last_lead")
        sub.status = AllocationStatus.revoked
        sub.updated_at = self.ctx.now()
        self.ctx.session.delete(member)
        self.audit.record(
            actor=caller.actor,
            action="consortium.remove_member",
            target_type="consortium",
            target_id=consortium_id,
            before=before,
            after=None,
        )
        return self._view(consortium)

    def set_share(
        self, caller: Caller, consortium_id: int, username: str, share: float
    ) -> ConsortiumView:
        """Set a member's share of the pool's CPU-hours.

        Raises:
            NotFound: There is no consortium `consortium_id` (or it has no pool), or
                `username` is not a member of it.
            PermissionDenied: `caller` may not manage it (`_authorize`).
            Conflict: The pool is revoked or expired (`pool_inactive`), or the share would
                take the shares past the pool's budget (`pool_exceeded`).
        """
        consortium = self._authorize(caller, consortium_id)
        pool = self._pool(consortium, lock=True)
        self._require_usable(consortium, pool)
        _, sub = self._member(consortium, username)
        self._check_pool(pool, share, sub.id)
        before = sub.cpu_hours_budget
        sub.cpu_hours_budget = share
        sub.updated_at = self.ctx.now()
        self.audit.record(
            actor=caller.actor,
            action="consortium.set_share",
            target_type="consortium",
            target_id=consortium_id,
            before={"username": username, "cpu_hours_share": before},
            after={"username": username, "cpu_hours_share": share},
        )
        return self._view(consortium)

    def view(self, caller: Caller, consortium_id: int) -> ConsortiumView:
        """The consortium with its pool, members and shares, for its leads and admins.

        Raises:
            NotFound: There is no consortium `consortium_id` (or it has no pool).
            PermissionDenied: `caller` may not manage it (`_authorize`).
        """
        return self._view(self._authorize(caller, consortium_id))

    def _view(self, consortium: Consortium) -> ConsortiumView:
        pool = self._pool(consortium)
        rows = self.ctx.session.execute(
            select(ConsortiumMember, User.username, Allocation)
            .join(User, User.id == ConsortiumMember.user_id)
            .join(Allocation, Allocation.id == ConsortiumMember.sub_allocation_id)
            .where(ConsortiumMember.consortium_id == consortium.id)
            .order_by(User.username)
        ).all()
        members = []
        for member, username, sub in rows:
            standing = ledger.standing(self.ctx.policy, sub, pool)
            members.append(
                MemberView(
                    username=username,
                    role=member.role.value,
                    sub_allocation_id=sub.id,
                    cpu_hours_share=sub.cpu_hours_budget or 0.0,
                    cpu_hours_used=round(sub.cpu_hours_used, 6),
                    cpu_hours_left=round(standing.left, 6),
                )
            )
        total = self._shares_total(pool)
        removal = self.ctx.session.scalar(
            select(ConsortiumRemoval.removed_at).where(
                ConsortiumRemoval.consortium_id == consortium.id
            )
        )
        return ConsortiumView(
            id=consortium.id,
            name=consortium.name,
            proposal_ref=consortium.proposal_ref,
            pool=allocation_view(self.ctx, pool),
            shares_total=total,
            unassigned=max(ledger.budget(self.ctx.policy, pool) - total, 0.0),
            members=members,
            storage=TeamStorageService(self.ctx).view(consortium),
            removed_at=removal,
        )

    def list_all(self) -> list[ConsortiumView]:
        """Every consortium's view, by name (the admin console: its route admits admins only).

        Raises:
            NotFound: A consortium row has no pool.
        """
        ids = self.ctx.session.scalars(select(Consortium.id).order_by(Consortium.name))
        return [self._view(self._get(i)) for i in ids]
