"""Removing a consortium: an admin action that ends the team without deleting anyone's files.

What removal does, in one transaction:
- the pool and every member's sub-allocation are revoked (nothing can be charged to them);
- the memberships go, so the next spawn decision no longer lists the team: members lose the
  team folder from their next server start (running servers keep what they have until then);
- who was in the team (leads and members) is kept in `consortium_removals`: they get the
  notices, now and before the folder is archived;
- nobody's files are touched: homes are never part of it, and the team folder goes through
  the purge pipeline (`jobs/team_purge.py`: plan -> notify -> grace -> archive -> execute).

Leaving a consortium (`ConsortiumService.remove_member`) never deletes the member's files
either: their home is theirs, and what they wrote in the team folder stays with the team.
"""

from __future__ import annotations

from sqlalchemy import select

from ..errors import Conflict
from ..models.v1 import ConsortiumView
from ..schema import AllocationStatus, ConsortiumMember, User
from ..schema.allocation import Allocation
from ..schema.team_archive import ConsortiumRemoval
from ..store.locks import for_update
from .audit import AuditService
from .base import ServiceContext
from .consortia import ConsortiumService
from .notices import NoticeService
from .teams import TeamService


class ConsortiumRemovalService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.consortia = ConsortiumService(ctx)
        self.audit = AuditService(ctx)
        self.notices = NoticeService(ctx)

    def remove(self, actor: str, consortium_id: int, reason: str) -> ConsortiumView:
        """Remove the consortium (admins only: the route admits the admin scope alone).

        Raises:
            NotFound: There is no consortium `consortium_id` (or it has no pool).
            Conflict: It was removed already (`already_removed`).
        """
        session = self.ctx.session
        consortium = self.consortia._get(consortium_id)
        pool = session.scalar(
            for_update(select(Allocation).where(Allocation.id == consortium.pool_id))
        )
        assert pool is not None
        done = session.scalar(
            select(ConsortiumRemoval).where(ConsortiumRemoval.consortium_id == consortium.id)
        )
        if done is not None:
            raise Conflict(
                f"consortium {consortium.name} was removed on {done.removed_at:%Y-%m-%d}",
                code="already_removed",
            )
        now = self.ctx.now()
        team_dir, _gid = TeamService(self.ctx).identity(consortium)
        rows = session.execute(
            select(ConsortiumMember, User)
            .join(User, User.id == ConsortiumMember.user_id)
            .where(ConsortiumMember.consortium_id == consortium.id)
            .order_by(User.username)
        ).all()
        people = [{"user_id": user.id, "role": member.role.value} for member, user in rows]
        revoked = []
        subs = session.scalars(
            for_update(
                select(Allocation).where(Allocation.parent_id == pool.id).order_by(Allocation.id)
            )
        ).all()
        for alloc in [pool, *subs]:
            if alloc.status != AllocationStatus.revoked:
                alloc.status = AllocationStatus.revoked
                alloc.updated_at = now
                revoked.append(alloc.id)
        for member, _user in rows:
            session.delete(member)
        session.add(
            ConsortiumRemoval(
                consortium_id=consortium.id,
                removed_at=now,
                actor=actor,
                reason=reason,
                team_dir=team_dir,
                people=people,
            )
        )
        message = (
            f"Consortium {consortium.name} was removed by an administrator ({reason}). Its "
            f"allocations are revoked, and its team folder /teams/{team_dir} is no longer "
            "mounted from your next server start. Nothing is deleted now: the team folder will "
            "be archived to the archive bucket, with notices before it happens, and your home "
            "is not touched."
        )
        for _member, user in rows:
            self.notices.post(
                user,
                "team-removed",
                message,
                dedupe_key=f"team-removed:{consortium.id}:{user.id}",
            )
        session.flush()
        self.audit.record(
            actor=actor,
            action="consortium.remove",
            target_type="consortium",
            target_id=consortium.id,
            before={
                "name": consortium.name,
                "people": [{"username": u.username, "role": m.role.value} for m, u in rows],
            },
            after={"team_dir": team_dir, "revoked_allocations": revoked},
            reason=reason,
        )
        return self.consortia._view(consortium)
